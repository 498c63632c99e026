// Binary image segmentation (a foreground/background label per pixel) for the methods of
// ../seal.libsonnet: a U-Net task-net, a loss-net scoring (image, mask) with the U-Net's per-pixel
// score plus DVN's convolutional mask score, IoU oracles.  A config picks a dataset and a method:
//   local seg = import 'segmentation.libsonnet';
//   seg.config(seg.datasets.horses, seg.methods.seal_dynamic_nce)
// Data paths (data/README.md) are relative to the directory `allennlp` runs in (the repository
// root); other files: -o '{"train_data_path": ..., "validation_data_path": ..., "test_data_path": ...}'.
// The networks take any image size; the reader resizes every image to the dataset's `size` (the
// size the predictor then resizes its inputs to); only the horses' DVN weight below is per pixel
// of their 32x32 images.
local seal = import '../seal.libsonnet';

{
  datasets: {
    // The generated horse masks of data/horses (32x32 RGB; scripts/make_horses.py).
    horses: {
      train: 'data/horses/train.npz',
      dev: 'data/horses/dev.npz',
      test: 'data/horses/test.npz',
      // (height, width) the reader resizes every image to (a no-op on these 32x32 arrays); the
      // archive's config keeps it, and the predictor resizes its inputs to it
      size: [32, 32],
      // task-net: a 2-level U-Net, 16 channels at full resolution
      channels: 16,
      depth: 2,
      dropout: 0.1,
      // loss-net: its own smaller U-Net (the per-pixel local score, and features for the global score)
      score_channels: 8,
      // DVN's mask score, narrower than the paper's (64, 128, 128; 384, 192) to fit a CPU budget
      score_conv_channels: [32, 64, 64],
      score_hidden_dims: [128, 64],
      batch_size: 16,
      num_epochs: 40,
      patience: 10,
      score_steps: 1,
      // DVN's losses regress sigmoid(score) onto the soft IoU.  A local score summed over every
      // pixel saturates that sigmoid, so there the local score is a mean over the 32 x 32 pixels;
      // the score's gradient in each pixel is then as small, and gradient-based inference takes
      // steps to match.  Chosen on dev.
      dvn: {
        local_weight: 1 / (32 * 32),
        gbi: { num_steps: 20, step_size: 1000, method: 'entropic' },
        // the windows of `dvn_crop_average` (DVN's test-time crop averaging): 24x24, as DVN's crops
        // of the 32x32 horses, every 4 pixels (9 windows)
        crop_average: { crop_size: [24, 24], stride: 4 },
      },
    },
  },

  unet(dataset, channels, features='decoder'):: {
    type: 'unet',
    channels: channels,
    depth: dataset.depth,
    batch_norm: true,
    dropout: dataset.dropout,
    features: features,
  },

  task(dataset):: dataset {
    reader: { type: 'segmentation-arrays', [if std.objectHas(dataset, 'size') then 'size']: dataset.size },
    validation_metric: '+mean_iou',
    model_extras: { output_space: { type: 'binary-mask' } },
    local unet = $.unet(dataset, dataset.channels),
    task_nn: if std.objectHas(dataset, 'gaussian_crf')
    then { type: 'gaussian-crf', unary: unet } + dataset.gaussian_crf
    else unet,
    score_nn: {
      // image and decoder map: DVN's energy sees the image itself, and the loss-net's own features
      task_nn: $.unet(dataset, dataset.score_channels, 'image+decoder'),
      global_score: {
        type: 'mask-conv',
        feature_dim: 3 + dataset.score_channels,
        channels: dataset.score_conv_channels,
        hidden_dims: dataset.score_hidden_dims,
      },
    },
    // A score sums over pixels: per pixel, the energy is on cross-entropy's scale.
    normalize_energy: true,
    // DVN regresses onto it; margin losses and InfNet use 1 - it as the task loss.
    oracle: { type: 'soft-iou' },
  },

  // The task as DVN's losses see it (see `dvn` of the dataset): the local score per pixel, and the
  // energy (a whole mask's value, O(1)) not divided again by the number of pixels.
  local dvn_task(task) = task { score_nn+: { local_weight: task.dvn.local_weight }, normalize_energy: false },
  local gbi(task, extra={}) = { type: 'gradient-based-inference' } + task.dvn.gbi + extra,
  methods: seal.methods {
    seal_dynamic_dvn+: { model(task):: super.model(dvn_task(task)) },
    // DVN: the soft IoU regressed on gradient-based inference's outputs, cost-augmented ones (high
    // score, low IoU: DVN's adversarial samples) and the gold mask; GBI predicts.
    dvn+: {
      model(task):: super.model(dvn_task(task)) {
        oracle:: null,  // the model's oracle only sets a default score_nn_loss, given here
        score_nn_loss: {
          type: 'dvn',
          oracle: task.oracle,
          sampler: {
            type: 'multi',
            samplers: [gbi(task), gbi(task, { cost_augmented: task.oracle }), { type: 'ground-truth' }],
          },
        },
        inference: gbi(task),
      },
    },
    // DVN predicting (and validating) by gradient-based inference on overlapping windows of each
    // image, averaged per pixel (seal/modules/samplers/basic.py, `crop-average`); the dataset's
    // `dvn.crop_average` gives the windows.  Trained as `dvn`.
    dvn_crop_average: self.dvn {
      model(task):: super.model(task) {
        inference: { type: 'crop-average', sampler: gbi(dvn_task(task)) } + task.dvn.crop_average,
      },
    },
  },
  // A Gaussian CRF over the pixels (seal/modules/task_nets/gaussian_crf.py, issue #39): the U-Net's
  // logits are the unary scores and its decoder features give the embeddings of a dense Potts
  // pairwise term; the task-net's logits are the CRF's optimum.  Any method takes it:
  //   seg.config(seg.with_gaussian_crf(seg.datasets.horses), seg.methods.cross_entropy)
  // `crf`: options of the `gaussian-crf` task-net (embedding_dim, lambda_init, ...).
  with_gaussian_crf(dataset, crf={}):: dataset + { gaussian_crf: crf },

  adam:: seal.adam,

  config(dataset, method):: seal.config($.task(dataset), method),
}

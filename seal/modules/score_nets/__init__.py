from seal.modules.score_nets.score_nn import BoundScore, ScoreNN

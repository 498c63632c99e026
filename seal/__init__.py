"""seal: energy-based structured prediction (SEAL, SPEN, DVN, inference networks) for AllenNLP."""
__version__ = "0.1.0"

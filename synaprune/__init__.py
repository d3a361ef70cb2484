"""synaprune: spiking neural networks that learn with STDP on an FPGA and prune while they learn."""

__version__ = "0.1.0"

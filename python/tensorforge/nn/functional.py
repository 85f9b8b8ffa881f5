"""Functional forms of the layers' math (tensorforge.nn.functional); issue 7 adds the rest."""
from ..ops.attention import scaled_dot_product_attention
from ..ops.elementwise import gelu, relu, sigmoid, tanh
from ..ops.softmax import log_softmax, softmax

__all__ = ["gelu", "log_softmax", "relu", "scaled_dot_product_attention", "sigmoid", "softmax", "tanh"]

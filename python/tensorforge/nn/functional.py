"""tensorforge.nn.functional: the math of the layers as functions (PyTorch's names and signatures)."""
from ..ops.activation import elu, glu, hardtanh, leaky_relu, logsigmoid, mish, relu6, silu, softplus
from ..ops.attention import scaled_dot_product_attention
from ..ops.conv import conv2d
from ..ops.dropout import dropout, dropout2d
from ..ops.elementwise import gelu, relu, sigmoid, tanh
from ..ops.embedding import embedding
from ..ops.linear import linear
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, huber_loss, l1_loss,
                        mse_loss, nll_loss, smooth_l1_loss)
from ..ops.normalization import batch_norm, layer_norm
from ..ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from ..ops.softmax import log_softmax, softmax

__all__ = sorted(name for name in dir() if not name.startswith("_"))  # every function imported above

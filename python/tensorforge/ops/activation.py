"""Activations beyond the elementwise basics, composed from differentiable ops."""
from .elementwise import abs as abs_, exp, log, relu, sigmoid, tanh, where


def leaky_relu(x, negative_slope=0.01, inplace=False):
    return where(x > 0, x, x * negative_slope)


def elu(x, alpha=1.0, inplace=False):
    return where(x > 0, x, (exp(x) - 1) * alpha)


def silu(x, inplace=False):
    return x * sigmoid(x)


def softplus(x, beta=1.0, threshold=20.0):
    bx = x * beta
    soft = (relu(bx) + log(1 + exp(-abs_(bx)))) / beta
    return where(bx > threshold, x, soft)


def logsigmoid(x):
    return -softplus(-x)


def mish(x, inplace=False):
    return x * tanh(softplus(x))


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    return x.clamp(min_val, max_val)


def relu6(x, inplace=False):
    return x.clamp(0.0, 6.0)


def glu(x, dim=-1):
    a, b = x.chunk(2, dim)
    return a * sigmoid(b)


__all__ = ["leaky_relu", "elu", "silu", "softplus", "logsigmoid", "mish", "hardtanh", "relu6", "glu"]

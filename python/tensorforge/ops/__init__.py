"""Tensor operations, one module per family; _tensor_methods.py binds them onto Tensor."""

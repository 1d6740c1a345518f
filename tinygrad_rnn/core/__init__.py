"""The core, read first: a tensor and the tape that differentiates it.

- ``tensor.py``: ``Tensor``, an array on a device plus ``grad`` and ``grad_fn``; its methods
  are thin sugar over the ops (``tinygrad_rnn/ops/``).
- ``autograd.py``: ``Function`` (one recorded op) and the backward walk (the chain rule
  over the graph), ``grad()`` and higher-order gradients.
- ``grad_mode.py``: ``no_grad``/``enable_grad`` and anomaly mode.
- ``dtypes.py``: which dtype an op returns (PyTorch's promotion rules).
- ``factories.py``: ``zeros``, ``randn``, ... and ``tensor()``.
- ``gradcheck.py``: finite-difference checks of gradients and of second derivatives.

The primitive ops live in ``tinygrad_rnn/ops/`` and the array libraries behind one small
interface in ``tinygrad_rnn/backends/``; together with this package they are the core.
"""

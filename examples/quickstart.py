"""Quickstart: build an expression, call backward(), read .grad, and check it.

Run:  python examples/quickstart.py
"""
import tinygrad_rnn as tg

# f(x, w) = sum(tanh(x @ w)) for a batch of 2 inputs of size 3
x = tg.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
w = tg.tensor([[0.1], [0.2], [-0.3]], requires_grad=True, name="w")
f = (x @ w).tanh().sum()

# walk the tape by hand, before backward frees it: each op node knows the
# nodes (or leaf tensors) that produced its inputs
node = f.grad_fn
while isinstance(node, tg.Function):
    print("op:", node.name)
    node = next(edge[0] for edge in node.parents if edge is not None)
print("leaf:", node.name, node.shape)

f.backward()
print("f =", f.item())
print("df/dw =", w.grad.numpy().ravel())

# the same gradient by central finite differences in float64
print("gradcheck:", tg.gradcheck(lambda w: (x.double() @ w).tanh().sum(), [w]))

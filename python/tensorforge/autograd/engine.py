"""The backward engine: dependency counting and a ready stack, no recursion (deep graphs are fine)."""
from . import grad_mode
from .function import Node

_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access saved tensors after they "
    "have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward.")


def _check_saved(node):
    if node.saved is None:
        raise RuntimeError(_SECOND_BACKWARD)
    for t, v in zip(node.saved, node.versions):
        if t._vc[0] != v:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{t.dtype.name} tensor of shape {list(t.shape)}], which is output 0 of "
                f"{node.name()}'s input, is at version {t._vc[0]}; expected version {v} instead. "
                "Hint: replace the in-place op with its out-of-place form, or clone() the tensor first.")


def _dependencies(roots):
    """Number of graph edges into each Node reachable from roots."""
    deps = {}
    stack = [n for n in roots]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for e in node.next:
            if e is not None and isinstance(e, Node):
                deps[e] = deps.get(e, 0) + 1
                if e not in seen:
                    seen.add(e)
                    stack.append(e)
    return deps


def _accumulate_leaf(leaf, g, create_graph, stored_ids):
    if leaf._hooks:
        for hook in leaf._hooks.values():
            r = hook(g)
            if r is not None:
                g = r
    if g.dtype is not leaf.dtype:
        g = g.to(leaf.dtype)
    if not create_graph:
        d = g._data
        # the stored grad must own writable memory that no other grad shares (optimizers and
        # clip_grad_norm_ update .grad in place)
        if d.base is not None or not d.flags.writeable or id(d) in stored_ids or d.shape != leaf._data.shape:
            d = d.copy() if d.shape == leaf._data.shape else _broadcast_copy(d, leaf._data.shape)
        stored_ids.add(id(d))
        g = leaf._new(d)
    if leaf.grad is None:
        leaf.grad = g
    elif create_graph:
        leaf.grad = leaf.grad + g
    else:
        leaf.grad._data += g._data
        leaf.grad._vc[0] += 1


def _broadcast_copy(d, shape):
    from .._backend import xp

    return xp(d).broadcast_to(d, shape).copy()


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None):
    """Backpropagates grad_tensors from tensors. With `inputs`, returns their gradients instead of
    accumulating into .grad (autograd.grad); otherwise accumulates into leaves' .grad."""
    capture = None
    if inputs is not None:
        capture = {}
        capture_nodes = {t._grad_fn: i for i, t in enumerate(inputs) if t._grad_fn is not None}
        capture_leaves = {id(t): i for i, t in enumerate(inputs) if t._grad_fn is None}
    stored_ids = {id(g._data) for g in grad_tensors}
    buffers = {}
    roots = []
    prev_mode = grad_mode.state.enabled
    grad_mode.state.enabled = create_graph
    try:
        for t, g in zip(tensors, grad_tensors):
            node = t._grad_fn
            if node is None:  # a leaf is its own output
                if capture is not None:
                    i = capture_leaves.get(id(t))
                    if i is not None:
                        capture[i] = g if i not in capture else capture[i] + g
                else:
                    _accumulate_leaf(t, g, create_graph, stored_ids)
                continue
            if node in buffers:
                buffers[node] = buffers[node] + g
            else:
                buffers[node] = g
                roots.append(node)
        deps = _dependencies(roots)
        ready = [n for n in roots if n not in deps]

        def arrived(e):
            """One edge into e is done; e is ready when none is left."""
            left = deps[e] - 1
            deps[e] = left
            if left == 0:
                ready.append(e)

        while ready:
            node = ready.pop()
            g = buffers.pop(node, None)
            if g is None:  # every gradient into this node was None: nothing flows on, but its inputs' counts must
                for e in node.next:
                    if e is not None and isinstance(e, Node):
                        arrived(e)
                continue
            if node.hooks:
                for hook in node.hooks.values():
                    r = hook(g)
                    if r is not None:
                        g = r
            if capture is None:
                if node.retained is not None:
                    owner = node.retained()
                    if owner is not None:
                        owner.grad = g if create_graph else g.detach()
            else:
                i = capture_nodes.get(node)
                if i is not None:
                    capture[i] = g
            _check_saved(node)
            grads = node.backward(g)
            if not retain_graph:
                node.release()
            for e, ge in zip(node.next, grads):
                if e is None:
                    continue
                if isinstance(e, Node):
                    if ge is not None:
                        buffers[e] = buffers[e] + ge if e in buffers else ge
                    arrived(e)
                elif ge is None:
                    continue
                elif capture is None:
                    _accumulate_leaf(e, ge, create_graph, stored_ids)
                else:
                    i = capture_leaves.get(id(e))
                    if i is not None:
                        capture[i] = ge if i not in capture else capture[i] + ge
    finally:
        grad_mode.state.enabled = prev_mode
    return capture

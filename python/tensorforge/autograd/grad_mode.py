"""Whether operations record the graph: no_grad / enable_grad / set_grad_enabled."""
import functools


class _State:
    __slots__ = ("enabled",)

    def __init__(self):
        self.enabled = True


state = _State()  # ops read state.enabled on every call


def is_grad_enabled():
    return state.enabled


class _GradModeContext:
    """Context manager and decorator that sets grad mode and restores the previous one."""

    _mode = True

    def __new__(cls, *args):
        if cls is not set_grad_enabled and len(args) == 1 and callable(args[0]):  # bare @no_grad
            return cls()(args[0])
        return super().__new__(cls)

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._mode

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):
    """Disables graph recording: `with tensorforge.no_grad():` or `@tensorforge.no_grad()`."""

    _mode = False


class enable_grad(_GradModeContext):
    """Enables graph recording inside a no_grad region."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Sets grad mode to `mode` immediately (like torch) and restores it on exit when used with `with`."""

    def __init__(self, mode):
        self._prev = state.enabled
        self._mode = bool(mode)
        state.enabled = self._mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        state.enabled = self._prev
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper

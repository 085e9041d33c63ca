"""The handle that every ``register_*_hook`` returns (torch.utils.hooks.RemovableHandle).

Hooks live in an ordered dict ``{hook id: fn}`` on their owner (a Module, a Tensor);
the handle remembers the id and the dicts, so ``handle.remove()`` takes the hook out
again, and ``with module.register_forward_hook(fn):`` keeps it for one block only.
"""

import itertools

__all__ = ["RemovableHandle"]


class RemovableHandle:
    """``handle.remove()`` unregisters the hook; removing twice is harmless."""

    _next_id = itertools.count()

    def __init__(self, hooks_dict, *extra_dicts):
        self.id = next(RemovableHandle._next_id)
        self._dicts = (hooks_dict,) + extra_dicts

    def remove(self):
        for hooks in self._dicts:
            hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False

    def __repr__(self):
        return f"<RemovableHandle id={self.id}>"

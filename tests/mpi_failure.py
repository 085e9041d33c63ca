"""Run by tests/test_distributed.py under ``mpiexec -n 2``: rank 1 fails in the middle of
training while rank 0 waits for it in the gradient allreduce. ``raise``: an uncaught
exception; ``die``: the process is killed. Either way the job must end with an error."""

import os
import signal
import sys

import numpy as np

import minidl
import minidl.distributed as dist
from minidl import nn
from minidl.nn.parallel import DistributedDataParallel

dist.init()
mode = sys.argv[1]
model = DistributedDataParallel(nn.Linear(4, 2))
optimizer = minidl.optim.SGD(model.parameters(), lr=0.1)
x = minidl.tensor(np.ones((3, 4), np.float32))
for step in range(1000):
    if step == 2 and dist.get_rank() == 1:
        if mode == "raise":
            raise RuntimeError("rank 1 fails on purpose")
        os.kill(os.getpid(), signal.SIGKILL)
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()
print("finished", flush=True)  # never reached on rank 0: the test checks that

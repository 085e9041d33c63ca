"""Datasets and loaders: map-style datasets, a batching DataLoader, MNIST and Fashion-MNIST."""
from .dataloader import DataLoader
from .dataset import Dataset, Subset, TensorDataset, default_collate, random_split
from .idx import IDXError, read_idx
from .mnist import MNIST, ChecksumError, DownloadError, FashionMNIST, data_root
from .sampler import (
    BatchSampler, DistributedSampler, RandomSampler, Sampler, SequentialSampler,
    SubsetRandomSampler, WeightedRandomSampler,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "random_split", "default_collate", "DataLoader",
    "MNIST", "FashionMNIST", "read_idx", "data_root", "IDXError", "ChecksumError",
    "DownloadError", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler",
]

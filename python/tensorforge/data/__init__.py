"""tensorforge.data (also importable as tensorforge.utils.data): datasets, samplers and the DataLoader."""
from .collate import default_collate
from .dataloader import DataLoader
from ._worker import WorkerInfo, get_worker_info
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset", "WorkerInfo", "default_collate",
           "get_worker_info", "random_split"]

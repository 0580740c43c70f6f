"""edgetrain: train small networks with edge techniques and ship them to microcontrollers.

Quick tour::

    import edgetrain as et
    data = et.load_data("digits")
    model = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], input_shape=data.n_features)
    et.fit(model, data, epochs=30, optimizer="adam", lr=3e-3)
    et.save_model(model, "digits.etm")

The subpackages follow the pipeline: define (`graph`, `ops`, `layers`), transform (`transforms`,
`techniques`), train (`engine`, `train_run`), quantize (`quantize`), export and interop
(`export.c`, `interop.onnx`), device (`device`: build, run, verify, fine-tune).
"""

from .data import Dataset, Split, load_data
from .engine.autodiff import derive_backward
from .engine.executor import forward, predict
from .engine.losses import MSE, CrossEntropy, Distillation
from .engine.optim import SGD, Adam, make_optimizer
from .engine.trainer import Callback, History, Trainer, accuracy, fit
from .errors import (
    BudgetExceededError,
    ConfigError,
    DataError,
    EdgetrainError,
    ExportError,
    InvalidModelError,
    ModelFileError,
    ToolchainError,
    UnsupportedOpError,
)
from .formats.modelfile import load_model, save_model
from .graph import Graph, Node, Param, QParams
from .layers import (
    AvgPool1D,
    AvgPool2D,
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAvgPool,
    GraphBuilder,
    HardSwish,
    Identity,
    LeakyReLU,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    ReLU6,
    Reshape,
    Residual,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    set_trainable,
)
from .summary import evaluate, summary
from .version import __version__ as __version__  # re-exported: the package version

__all__ = [
    "MSE",
    "SGD",
    "Adam",
    "AvgPool1D",
    "AvgPool2D",
    "BatchNorm",
    "BudgetExceededError",
    "Callback",
    "ConfigError",
    "Conv1D",
    "Conv2D",
    "CrossEntropy",
    "DataError",
    "Dataset",
    "Dense",
    "DepthwiseConv2D",
    "Distillation",
    "EdgetrainError",
    "ExportError",
    "Flatten",
    "GlobalAvgPool",
    "Graph",
    "GraphBuilder",
    "HardSwish",
    "History",
    "Identity",
    "InvalidModelError",
    "LeakyReLU",
    "MaxPool1D",
    "MaxPool2D",
    "ModelFileError",
    "Node",
    "Param",
    "QParams",
    "ReLU",
    "ReLU6",
    "Reshape",
    "Residual",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Split",
    "Tanh",
    "ToolchainError",
    "Trainer",
    "UnsupportedOpError",
    "accuracy",
    "derive_backward",
    "evaluate",
    "fit",
    "forward",
    "load_data",
    "load_model",
    "make_optimizer",
    "predict",
    "save_model",
    "set_trainable",
    "summary",
]

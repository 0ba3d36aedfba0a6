"""i2dl-lab: a deep-learning course in a box.

Subpackages
-----------
nn             from-scratch NumPy neural-network library (functional maths + Module classes)
classic        classic models of the early lectures (k-NN, linear SVM, softmax, regressions)
architecture   architecture arithmetic: output sizes, parameter counts, receptive fields
models         reference networks for the digits data (the promised accuracies)
sequence       sequence toolkits: character language model, gradient flow through time
loop           the training vocabulary every loop shares (History, EarlyStopping, TrainingDiverged)
train          the NumPy Trainer
data           datasets (offline first), DataLoader, transforms, downloads
bridge         the PyTorch side: NumPy <-> torch conversion, fit loop, model zoo
widgets        ipywidgets controls and matplotlib plots used by the labs
grading        release, self-check, submit, sandboxed grading, gradebook
"""

__version__ = "0.1.0"

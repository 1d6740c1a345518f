"""The application built on the library: the character-level model (``models.py``), its
training loop with exact resume (``train.py``) and the ``tinygrad-rnn`` command line
(``cli.py``)."""

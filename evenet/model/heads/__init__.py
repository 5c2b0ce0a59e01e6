"""Task heads. Each follows the contract of `contract.Head` and is registered under its task
name (`builtin.py` for the built-in ones); the model finds them through the registry."""

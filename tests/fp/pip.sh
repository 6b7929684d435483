# A Python virtualenv and a package from PyPI.
python3 -m venv venv
venv/bin/pip install -q --disable-pip-version-check six
venv/bin/python -c 'import six; print(six.__version__)' > /dev/null

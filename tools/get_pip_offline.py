"""Stand-in for the get-pip.py that `ansible-test --venv` downloads.

ansible-test creates each of its virtual environments with `python -m venv
--without-pip` and then runs the pip bootstrap script
https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py,
which this network cannot reach.  It first looks for a cached copy at
~/.ansible/test/cache/get_pip_<version with dots as underscores>.py, so
tools/sanity.sh copies this file there.

ansible-test runs the script as __main__ inside the new environment with
get-pip.py style arguments, for example:

    --disable-pip-version-check pip==24.2 --no-setuptools --no-wheel

This script does the same job without the embedded pip zip: it installs the
pip wheel that ships with the interpreter (`ensurepip`, offline), then uses
it to install the exact requested packages from the configured package index
(PyPI), and finally removes setuptools/wheel when asked, like get-pip.py.

Keep it runnable on old Pythons (no f-strings): ansible-test may run it with
any interpreter it finds.
"""

import os
import subprocess
import sys

# Options that get-pip.py consumes itself instead of passing on to pip.
OWN_OPTIONS = ('--no-setuptools', '--no-wheel')


def run(*args):
    """Run this interpreter with the given arguments; stop on failure.

    Output is shown only on failure: ansible-test prints the bootstrap of
    every sanity venv, and ensurepip/pip chatter would bury the test output.
    """
    command = [sys.executable] + list(args)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.communicate()[0]

    if process.returncode != 0:
        sys.stderr.write(output.decode('utf-8', 'replace'))
        sys.stderr.write('get_pip_offline: failed (exit %d): %s\n' % (process.returncode, ' '.join(command)))
        sys.exit(process.returncode)


def installed(name):
    """Return True if the distribution is installed in this environment."""
    command = [sys.executable, '-m', 'pip', 'show', '--quiet', name]

    with open(os.devnull, 'wb') as devnull:
        return subprocess.call(command, stdout=devnull, stderr=devnull) == 0


def main():
    """Bootstrap pip, then install what ansible-test asked for."""
    argv = sys.argv[1:]
    pip_args = [arg for arg in argv if arg not in OWN_OPTIONS]

    # get-pip.py with no package argument installs the latest pip.
    if not [arg for arg in pip_args if not arg.startswith('-')]:
        pip_args.append('pip')

    try:
        import ensurepip  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        sys.stderr.write(
            'get_pip_offline: the ensurepip module is missing from %s.\n'
            'On Debian/Ubuntu install the python3-venv package (python3.X-venv).\n' % sys.executable)
        sys.exit(1)

    # Offline: ensurepip installs the pip wheel bundled with (or, on Debian, packaged for) this Python.
    run('-m', 'ensurepip', '--upgrade', '--default-pip')

    # Online, PyPI only: replace it with the exact version ansible-test pins.
    run('-m', 'pip', 'install', '--upgrade', *pip_args)

    # ensurepip may add setuptools (Python < 3.12); get-pip.py leaves it out on request.
    unwanted = []

    if '--no-setuptools' in argv and installed('setuptools'):
        unwanted.append('setuptools')

    if '--no-wheel' in argv and installed('wheel'):
        unwanted.append('wheel')

    if unwanted:
        run('-m', 'pip', 'uninstall', '--yes', *unwanted)

    sys.stdout.write('get_pip_offline: installed %s\n' % ' '.join(arg for arg in pip_args if not arg.startswith('-')))


if __name__ == '__main__':
    main()

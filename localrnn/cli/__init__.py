"""The ``localrnn`` command line: thin click wrappers over the public API.

One module per command, loaded lazily so ``localrnn --help`` does not import
Numba.  Every failure ends as one line ``Error: ...`` on stderr, never a traceback.

Exit codes (every command):

===  ==================================================================
0    done
2    a bad value (click usage errors, the API's ``ValueError``, a path
     that cannot be read or written)
3    training diverged (``localrnn run``; the last good state is saved)
4    the results could not be written: disk full, quota, read-only file
     system, I/O error, or out of memory; nothing already saved is lost
130  interrupted (Ctrl-C); the partial run is saved
===  ==================================================================
"""
from __future__ import annotations

import errno
import importlib
import sys

import click

#: command name -> (module, attribute)
COMMANDS = {
    "run": ("localrnn.cli.run", "run"),
    "tasks": ("localrnn.cli.tasks", "tasks"),
    "plot": ("localrnn.cli.plot", "plot"),
    "bench": ("localrnn.cli.bench", "bench"),
    "lyapunov": ("localrnn.cli.lyapunov", "lyapunov"),
    "fixedpoint": ("localrnn.cli.fixedpoint", "fixedpoint"),
    "sweep": ("localrnn.cli.sweep", "sweep"),
    "reproduce": ("localrnn.cli.reproduce", "reproduce"),
    "export": ("localrnn.cli.export", "export"),
    "quantize-sweep": ("localrnn.cli.quantize_sweep", "quantize_sweep"),
}

HELP = {
    "run": "Train an RNN on a task with a learning rule; save and plot the learning curve.",
    "tasks": "List the registered tasks.",
    "plot": "Overlay the learning curves of saved runs.",
    "bench": "Time each rule per time step against PyTorch.",
    "lyapunov": "Lyapunov spectrum of a saved run or a fresh network.",
    "fixedpoint": "Fixed-point learning with reparameterised rules (Zhu & Rosenbaum 2023).",
    "sweep": "Run a grid of training runs (serial, processes or Dask); write summary.csv.",
    "reproduce": "Reproduce a study (liu2024): sweeps, figures and a report with verdicts.",
    "export": "One online step as a hardware spec (md/json), or a run's network as NIR.",
    "quantize-sweep": "Integer online learning against the word length of weights and traces.",
}


_NO_ARGS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", None) or type("_Never", (Exception,), {})


#: every exit code a command can end with (see the module docstring)
EXIT_CODES = {"done": 0, "bad_value": 2, "diverged": 3, "io": 4, "interrupted": 130}
#: errno values that mean "the machine could not store the results" (exit 4); any other
#: OSError names a path that cannot be used (exit 2)
_IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}


def os_error_line(e: OSError) -> str:
    """``Error: <path>: <cause>`` for an OSError (disk full named as such)."""
    where = f"{e.filename}: " if getattr(e, "filename", None) else ""
    cause = e.strerror or str(e)
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        cause += " (disk full: free space, then 'localrnn run --resume' continues from the last checkpoint)"
    return f"Error: cannot write {where}{cause}" if e.errno in _IO_ERRNOS else f"Error: {where}{cause}"


class UsageFail(Exception):
    """Raised by commands for a bad value found after parsing (exit code 2)."""


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr = COMMANDS[name]
        return getattr(importlib.import_module(mod), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, HELP[name]) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NO_ARGS_HELP as e:  # click >= 8.2 raises this for a bare group
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.UsageError as e:
            click.echo(f"Error: {e.format_message()}".replace("\n", " "), err=True)
            sys.exit(2)
        except (ValueError, UsageFail) as e:
            click.echo(f"Error: {e}".replace("\n", " "), err=True)
            sys.exit(2)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(f"Error: {e.format_message()}".replace("\n", " "), err=True)
            sys.exit(e.exit_code)
        except (click.Abort, KeyboardInterrupt):
            click.echo("Aborted.", err=True)
            sys.exit(130)
        except OSError as e:
            click.echo(os_error_line(e).replace("\n", " "), err=True)
            sys.exit(4 if e.errno in _IO_ERRNOS else 2)
        except MemoryError:
            click.echo("Error: out of memory; use smaller sizes (--n-rec, --batch, --eval-batch)", err=True)
            sys.exit(4)
        sys.exit(rv if isinstance(rv, int) else 0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="localrnn")
def main():
    """localrnn: train recurrent networks with exact (BPTT, RTRL) and local
    (e-prop, RFLO) learning rules; Lyapunov spectra and gradient flossing."""


__all__ = ["main", "UsageFail", "COMMANDS", "EXIT_CODES", "os_error_line"]

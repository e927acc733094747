import click

ledger_cli = click.Group("ledger", help="账务 Ledger.")

import click

seed_cli = click.Group("seed", help="演示与基准数据 Demo and benchmark data.")

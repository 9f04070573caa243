# SPDX-License-Identifier: GPL-2.0-only
def pytest_configure(config):
    config.addinivalue_line("markers", "params(**kw): channel.ko module parameters for the test")

"""`python -m bench` (`make bench`): the web chat load, a flood from one client against another
customer, the Slack load next to a bare bolt app, the SQLite write-ahead log under load and the
knowledge ranking benchmarks, one after another (see bench/README.md). Exits non-zero when any
target is missed."""

import sys

from bench.flood_bench import main as flood_main
from bench.knowledge_bench import main as knowledge_main
from bench.slack_load import main as slack_main
from bench.wal_bench import main as wal_main
from bench.webchat_load import main as webchat_main

webchat = webchat_main()
flood = flood_main([])
slack = slack_main([])["exit_code"]
wal = wal_main([])
knowledge = 0 if knowledge_main([]).get("pass") else 1
sys.exit(max(webchat, flood, slack, wal, knowledge))

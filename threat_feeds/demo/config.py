"""Configuration of the demo TAXII server and its command line (shared by the CLI, the child
process that benchmarks start, and the Django management command)."""

from __future__ import annotations

import argparse
from collections import deque
from dataclasses import dataclass, field

from threat_feeds.demo.generator import DEFAULT_SEED


@dataclass
class ServerConfig:
    """Everything that shapes one server. Defaults suit tests and benchmarks (free port, no pacing,
    no auth); the CLI and the management command default to the paced, authenticated demo."""

    objects: int = 20_000  # base objects; editions > 1 append re-issues (DemoCollection.size)
    seed: int = DEFAULT_SEED
    version: int = 1  # collection edition
    page_max: int = 100  # ``limit`` is clamped to this; also the default page size
    delay: float = 0.0  # seconds before answering each objects page
    username: str | None = None  # basic auth required when set
    password: str | None = None
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port
    api_root: str = "demo"
    title: str = "CRISP Demo Intel Feed (synthetic demo data)"
    stall_after_pages: int | None = None  # after N pages, accept requests and never answer
    stall_seconds: float = 3600.0
    stall_partial: bool = False  # send headers and part of the body before stalling
    retry_after_every: int | None = None  # every Nth objects request gets 429
    retry_after_seconds: int = 1
    cache_mb: int = 256  # rendered-chunk cache budget (about 1 MB per 1,400 objects)
    warm: bool = False  # render up to the budget before serving (benchmarks: a near-free server)
    cache_dir: str | None = None  # render the whole collection to a file here once and mmap it
    prefetch: bool = True
    verbose: bool = False


@dataclass
class ServerStats:
    """Counters for tests: what the server saw and did."""

    requests: int = 0
    object_requests: int = 0
    pages: int = 0
    objects_served: int = 0
    throttled: int = 0
    stalled: int = 0
    unauthorized: int = 0
    limits: deque[int] = field(default_factory=lambda: deque(maxlen=1000))  # effective limit per page


def config_to_args(config: ServerConfig) -> list[str]:
    """CLI arguments reproducing a config (used to run the server in a child process)."""
    args = [
        f"--host={config.host}",
        f"--port={config.port}",
        f"--objects={config.objects}",
        f"--seed={config.seed}",
        f"--edition={config.version}",
        f"--page-size={config.page_max}",
        f"--delay={config.delay}",
        f"--api-root={config.api_root}",
        f"--cache-mb={config.cache_mb}",
        f"--retry-after-seconds={config.retry_after_seconds}",
        f"--stall-seconds={config.stall_seconds}",
    ]
    if config.username is not None:
        args += [f"--username={config.username}", f"--password={config.password or ''}"]
    else:
        args.append("--no-auth")
    if config.stall_after_pages is not None:
        args.append(f"--stall-after-pages={config.stall_after_pages}")
    if config.stall_partial:
        args.append("--stall-partial")
    if config.retry_after_every:
        args.append(f"--retry-after-every={config.retry_after_every}")
    if not config.prefetch:
        args.append("--no-prefetch")
    if config.warm:
        args.append("--warm")
    if config.verbose:
        args.append("--verbose")
    if config.cache_dir:
        args.append(f"--cache-dir={config.cache_dir}")
    return args


def build_parser(defaults: ServerConfig | None = None) -> argparse.ArgumentParser:
    d = defaults or ServerConfig(port=8001, delay=0.3, username="demo", password="demo")
    p = argparse.ArgumentParser(description="CRISP demo TAXII 2.1 server (synthetic data).")
    p.add_argument("--host", default=d.host, help="bind address (keep it on loopback)")
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--objects", type=int, default=d.objects)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--edition", type=int, default=d.version, help="collection edition (re-issues)")
    p.add_argument("--page-size", type=int, default=d.page_max, help="maximum (and default) page size")
    p.add_argument("--delay", type=float, default=d.delay, help="seconds per objects page")
    p.add_argument("--username", default=d.username)
    p.add_argument("--password", default=d.password)
    p.add_argument("--no-auth", action="store_true", help="serve without basic auth")
    p.add_argument("--api-root", default=d.api_root)
    p.add_argument("--cache-mb", type=int, default=d.cache_mb)
    p.add_argument("--stall-after-pages", type=int, default=None)
    p.add_argument("--stall-seconds", type=float, default=d.stall_seconds)
    p.add_argument("--stall-partial", action="store_true")
    p.add_argument("--retry-after-every", type=int, default=None)
    p.add_argument("--retry-after-seconds", type=int, default=d.retry_after_seconds)
    p.add_argument("--no-prefetch", action="store_true")
    p.add_argument("--warm", action="store_true", help="pre-render the collection (up to --cache-mb)")
    p.add_argument("--cache-dir", default=None, help="render the collection to a reusable file here")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument("--exit-with-parent", action="store_true", help="exit when stdin closes")
    return p


def config_from_args(ns: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        objects=ns.objects,
        seed=ns.seed,
        version=ns.edition,
        page_max=ns.page_size,
        delay=ns.delay,
        username=None if ns.no_auth else ns.username,
        password=None if ns.no_auth else ns.password,
        host=ns.host,
        port=ns.port,
        api_root=ns.api_root,
        stall_after_pages=ns.stall_after_pages,
        stall_seconds=ns.stall_seconds,
        stall_partial=ns.stall_partial,
        retry_after_every=ns.retry_after_every,
        retry_after_seconds=ns.retry_after_seconds,
        cache_mb=ns.cache_mb,
        prefetch=not ns.no_prefetch,
        warm=ns.warm,
        cache_dir=ns.cache_dir,
        verbose=ns.verbose,
    )

"""B7: how long flow images take to build, cold and cached, and how much a flow adds.

Needs a Docker engine and the local base image (``scripts/docker-engine.sh start``
and ``base-image``). Builds its own runtime image (``lume-services:bench``), so
the figures do not depend on what the tests left in the cache, and removes the
flow images it made, with the untagged ones rebuilds leave behind (the runtime
image it replaced, flow images built on it).

    python benchmarks/docker_images.py [--repeats 5]

Targets: a cached rebuild of a flow image in under 5 s; a flow image adds
under 1 MB to its base image.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine, timed, write_section  # noqa: E402

RUNTIME = "lume-services:bench"


def make_flow(name: str, default: int = 2):
    """A two-task flow built inside a function, so cloudpickle stores its code by value."""
    from prefect import Flow, Parameter, task

    @task
    def add(x, y):
        return x + y

    @task
    def double(value):
        return 2 * value

    with Flow(name) as flow:
        double(add(Parameter("x"), Parameter("y", default=default)))
    return flow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each cached measurement")
    args = parser.parse_args()

    from lume_services.services.scheduling.backends.images import engine, flow_images, runtime_image as runtime

    client = engine.docker_client()
    base = runtime.LOCAL_BASE_IMAGE
    if not engine.image_exists(base, client):
        sys.exit(f"the local base image {base} is missing: run scripts/docker-engine.sh base-image")

    print("building the runtime image without the layer cache ...", file=sys.stderr)
    replaced = client.images.get(RUNTIME).id if engine.image_exists(RUNTIME, client) else None
    runtime_cold, _ = timed(lambda: runtime.build_runtime_image(RUNTIME, base, nocache=True, client=client))
    runtime_cached = statistics.median(
        timed(lambda: runtime.build_runtime_image(RUNTIME, base, client=client))[0] for _ in range(args.repeats)
    )

    made = []
    # the first flow image on a new runtime image: Prefect's Dockerfile steps run for real
    flow_cold, first = timed(lambda: flow_images.build_flow_image(make_flow("bench-first"), base_image=RUNTIME))
    made.append(first.name)
    new_flow, rebuilt, reused = [], [], []
    for i in range(args.repeats):
        seconds, storage = timed(lambda: flow_images.build_flow_image(make_flow(f"bench-{i}"), base_image=RUNTIME))
        new_flow.append(seconds)
        made.append(storage.name)
        rebuilt.append(
            timed(lambda: flow_images.build_flow_image(make_flow(f"bench-{i}"), base_image=RUNTIME, rebuild=True))[0]
        )
        reused.append(timed(lambda: flow_images.build_flow_image(make_flow(f"bench-{i}"), base_image=RUNTIME))[0])
    added = engine.image_size(first.name, client) - engine.image_size(RUNTIME, client)
    runtime_size = engine.image_size(RUNTIME, client)
    base_size = engine.image_size(base, client)
    for name in made:
        client.images.remove(name, force=True)
    engine.remove_images({engine.LABEL_BASE_IMAGE: RUNTIME}, client)  # the rebuilds' untagged flow images
    if replaced is not None and replaced != client.images.get(RUNTIME).id:
        client.images.remove(replaced, force=True)  # the runtime image the cold build replaced

    rebuild_median = statistics.median(rebuilt)
    md = "\n".join(
        [
            "## B7: Docker images (build time, size a flow adds)",
            "",
            f"{machine()}; Docker {client.version()['Version']}; base image `{base}` "
            f"(Debian bookworm minbase + python3, {base_size / 1e6:.0f} MB); "
            f"median of {args.repeats} runs where repeated.",
            "",
            "| image | build | seconds |",
            "|---|---|---|",
            f"| runtime (`docker/Dockerfile`, pip from PyPI) | cold (no layer cache) | {runtime_cold:.1f} |",
            f"| runtime | cached rebuild, unchanged tree | {runtime_cached:.2f} |",
            f"| flow | first flow on a new runtime image | {flow_cold:.2f} |",
            f"| flow | a new flow (Prefect's generic steps cached) | {statistics.median(new_flow):.2f} |",
            f"| flow | cached rebuild of an unchanged flow (`rebuild=True`) | {rebuild_median:.2f} |",
            f"| flow | unchanged flow, image reused (labels match, no build) | {statistics.median(reused):.3f} |",
            "",
            f"Size: the runtime image is {runtime_size / 1e6:.0f} MB ({(runtime_size - base_size) / 1e6:.0f} MB "
            f"over its base); a flow image adds **{added / 1e3:.1f} kB** to the runtime image "
            "(the pickled flow and Prefect's health-check script).",
            "",
            f"Targets: cached rebuild < 5 s: **{'met' if rebuild_median < 5 else 'missed'}** "
            f"({rebuild_median:.2f} s); < 1 MB added: **{'met' if added < 1e6 else 'missed'}**. "
            "Most of a flow image's build time is Prefect's health check, which starts Python "
            "in the image and loads the flow there: it is what catches a flow whose code the "
            "image cannot import. The first flow on a new runtime image also runs Prefect's "
            "generic Dockerfile steps (a `pip` that finds everything installed).",
        ]
    )
    write_section("B7-docker", md, write="--no-write" not in sys.argv[1:])


if __name__ == "__main__":
    main()

"""Process-backend speedup on CPU-bound pure Python, measured side by side with serial.

    python docs/examples/measure_speedup.py [--transactions 1000] [--us 1000] [--workers 2]

Serial and process runs are interleaved (5 repetitions each) and the medians compared.
"""

from __future__ import annotations

import argparse
import statistics

from aethel import Batch, ParallelExecutor, Spin, Transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--us", type=int, default=1000, help="CPU µs per transaction")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    batch = Batch({}, [Transaction(f"t{i}", (Spin(us=args.us),))
                       for i in range(args.transactions)])
    serial_times, process_times = [], []
    with ParallelExecutor("serial") as serial, \
            ParallelExecutor("process", args.workers) as process:
        process.execute(batch)
        for _ in range(args.repeat):
            serial_times.append(serial.execute(batch).execution_time)
            process_times.append(process.execute(batch).execution_time)
    s, p = statistics.median(serial_times), statistics.median(process_times)
    print(f"{args.transactions} independent transactions of {args.us} µs CPU: "
          f"serial {s:.3f} s, process ×{args.workers} {p:.3f} s (medians of {args.repeat}), "
          f"speedup {s / p:.2f}×")
    print(f"  serial runs  {[round(t, 3) for t in serial_times]}")
    print(f"  process runs {[round(t, 3) for t in process_times]}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Generate a random CRUSH/osdmap vector set with Ceph's own tools, in the format of
../shared/vectors/crush (MANIFEST.tsv + maps/ + mappings/ + osdmap/ + hash/).

Needs crushtool and osdmaptool (apt-get install ceph-base). The set is for differential testing:

    python3 tools/gen_crush_vectors.py --seed 7 --maps 30 --out /tmp/vec7
    CRUSH_VECTORS_DIR=/tmp/vec7 cargo test -p rados-cli --test crush_vectors

Every map exercises a random mix of bucket algorithms, tunables, weights (zero, fractional),
device classes, empty buckets, unplaced devices, id gaps, choose_args, and rules (choose and
chooseleaf, firstn and indep, positive/zero/negative counts, several takes, per-rule tunables).
"""

import argparse
import os
import random
import shlex
import subprocess
import sys

ALGS = ["uniform", "list", "tree", "straw", "straw2"]
PROFILES = {
    "argonaut": None,
    "bobtail": (0, 0, 50, 1, 0, 0, 0, 22),
    "firefly": (0, 0, 50, 1, 1, 0, 0, 22),
    "hammer": (0, 0, 50, 1, 1, 0, 1, 54),
    "jewel": (0, 0, 50, 1, 1, 1, 1, 54),
}
TUNABLE_NAMES = ["choose_local_tries", "choose_local_fallback_tries", "choose_total_tries",
                 "chooseleaf_descend_once", "chooseleaf_vary_r", "chooseleaf_stable",
                 "straw_calc_version", "allowed_bucket_algs"]


def weight(rng, allow_zero=True):
    r = rng.random()
    if allow_zero and r < 0.08:
        return 0.0
    if r < 0.5:
        return 1.0
    return round(rng.choice([0.25, 0.5, 1.5, 2.0, 3.0, 4.0, 0.1, 0.125, 7.3, 0.333, 1.2345]) * rng.choice([1, 1, 2]), 4)


class MapGen:
    def __init__(self, rng, name):
        self.rng = rng
        self.name = name
        self.lines = []
        self.types = []
        self.classes = []
        self.buckets = []  # (name, type_index, id)

    def generate(self):
        rng = self.rng
        self.tunables()
        depth = rng.choice([1, 2, 2, 3, 3, 4])
        self.types = ["osd"] + ["host", "rack", "row", "root"][4 - depth:]
        if depth == 1:
            self.types = ["osd", "root"]
        self.classes = rng.choice([[], [], ["ssd"], ["ssd", "hdd"], ["hdd", "ssd", "nvme"]])
        n_dev = rng.randint(2, 40)
        ids = sorted(rng.sample(range(0, n_dev + rng.randint(0, 6)), n_dev))
        self.lines.append("")
        self.lines.append("# devices")
        self.devices = []
        for d in ids:
            cls = ""
            if self.classes and rng.random() < 0.9:
                cls = " class " + rng.choice(self.classes)
            self.lines.append(f"device {d} osd.{d}{cls}")
            self.devices.append(d)
        self.lines.append("")
        self.lines.append("# types")
        for i, t in enumerate(self.types):
            self.lines.append(f"type {i} {t}")
        self.lines.append("")
        self.lines.append("# buckets")
        self.build_hierarchy()
        self.lines.append("")
        self.lines.append("# rules")
        self.rules()
        if rng.random() < 0.25:
            self.choose_args()
        return "\n".join(self.lines) + "\n"

    def tunables(self):
        rng = self.rng
        self.lines.append("# begin crush map")
        choice = rng.choice(list(PROFILES) + ["custom", "custom"])
        if choice == "custom":
            vals = (rng.choice([0, 1, 2, 3]), rng.choice([0, 0, 2, 5]), rng.choice([1, 3, 10, 19, 50, 60]),
                    rng.choice([0, 1]), rng.choice([0, 1, 2, 3]), rng.choice([0, 1]), rng.choice([0, 1]),
                    rng.choice([22, 54]))
        else:
            vals = PROFILES[choice]
        if vals:
            for n, v in zip(TUNABLE_NAMES, vals):
                self.lines.append(f"tunable {n} {v}")
        self.straw_ok = True

    def bucket_alg(self):
        return self.rng.choice(ALGS + ["straw2", "straw2"])

    def build_hierarchy(self):
        rng = self.rng
        unplaced = set(rng.sample(self.devices, min(len(self.devices) - 1, rng.choice([0, 0, 0, 1, 2]))))
        lower = [(f"osd.{d}", None) for d in self.devices if d not in unplaced]
        rng.shuffle(lower)
        used_ids = set()
        next_auto = [-1]
        explicit_ids = rng.random() < 0.6
        for level in range(1, len(self.types)):
            tname = self.types[level]
            top = level == len(self.types) - 1
            groups = []
            if top:
                n_roots = rng.choice([1, 1, 1, 2])
                if n_roots == 1 or len(lower) < 2:
                    groups = [lower]
                else:
                    cut = rng.randint(1, len(lower) - 1)
                    groups = [lower[:cut], lower[cut:]]
            else:
                i = 0
                while i < len(lower):
                    k = rng.randint(1, 5)
                    groups.append(lower[i:i + k])
                    i += k
                if rng.random() < 0.3:
                    groups.append([])  # an empty bucket
            new_lower = []
            for gi, members in enumerate(groups):
                bname = f"{tname}{level}x{gi}" if not top else ("default" if gi == 0 else f"root{gi}")
                alg = self.bucket_alg()
                if alg == "tree" and len(members) > 60:
                    alg = "straw2"
                lines = [f"{tname} {bname} {{"]
                if explicit_ids:
                    bid = -rng.randint(1, 3 * len(self.devices) + 10)
                    while bid in used_ids:
                        bid -= 1
                    used_ids.add(bid)
                    lines.append(f"\tid {bid}")
                    if self.classes and rng.random() < 0.3:
                        for c in self.classes:
                            if rng.random() < 0.5:
                                sid = -rng.randint(1, 3 * len(self.devices) + 60)
                                while sid in used_ids:
                                    sid -= 1
                                used_ids.add(sid)
                                lines.append(f"\tid {sid} class {c}")
                lines.append(f"\talg {alg}")
                lines.append("\thash 0")
                uw = weight(rng, allow_zero=False)
                with_pos = alg in ("tree", "uniform") and rng.random() < 0.3
                order = list(range(len(members)))
                if with_pos:
                    rng.shuffle(order)
                for idx, (item, _) in enumerate(members):
                    w = uw if alg == "uniform" else weight(rng)
                    pos = f" pos {order[idx]}" if with_pos else ""
                    if rng.random() < 0.15 and alg != "uniform":
                        lines.append(f"\titem {item}{pos}")
                    else:
                        lines.append(f"\titem {item} weight {w}{pos}")
                lines.append("}")
                self.lines.extend(lines)
                self.buckets.append((bname, level))
                new_lower.append((bname, None))
            lower = new_lower
            rng.shuffle(lower)
        self.roots = [b for b, lvl in self.buckets if lvl == len(self.types) - 1]

    def rules(self):
        rng = self.rng
        n_rules = rng.randint(1, 5)
        rid = 0
        self.rule_ids = []
        self.firstn_rules = []
        for r in range(n_rules):
            indep = rng.random() < 0.35
            rtype = "erasure" if indep else "replicated"
            mode = "indep" if indep else "firstn"
            lines = [f"rule rule{r} {{", f"\tid {rid}", f"\ttype {rtype}", "\tmin_size 1", "\tmax_size 10"]
            if rng.random() < 0.3:
                lines.append(f"\tstep set_chooseleaf_tries {rng.choice([1, 2, 5])}")
            if rng.random() < 0.3:
                lines.append(f"\tstep set_choose_tries {rng.choice([1, 5, 50, 100])}")
            if rng.random() < 0.1:
                lines.append(f"\tstep set_choose_local_tries {rng.choice([0, 1, 2])}")
            if rng.random() < 0.1:
                lines.append(f"\tstep set_choose_local_fallback_tries {rng.choice([0, 3, 5])}")
            if rng.random() < 0.15:
                lines.append(f"\tstep set_chooseleaf_vary_r {rng.choice([0, 1, 2])}")
            if rng.random() < 0.15:
                lines.append(f"\tstep set_chooseleaf_stable {rng.choice([0, 1])}")
            takes = 2 if (rng.random() < 0.15 and len(self.roots) > 1) else 1
            for t in range(takes):
                root = self.roots[t % len(self.roots)] if rng.random() < 0.85 else rng.choice(self.buckets)[0]
                cls = ""
                if self.classes and rng.random() < 0.4:
                    cls = " class " + rng.choice(self.classes)
                lines.append(f"\tstep take {root}{cls}")
                level = [lvl for b, lvl in self.buckets if b == root][0]
                if rng.random() < 0.25 and level >= 2:
                    t1 = rng.randint(1, level - 1)
                    lines.append(f"\tstep choose {mode} {rng.choice([0, 2, 3])} type {self.types[t1]}")
                    lines.append(f"\tstep chooseleaf {mode} {rng.choice([0, 1, 2])} type {self.types[0]}")
                else:
                    t1 = rng.randint(0, max(0, level - 1))
                    verb = "chooseleaf" if (t1 > 0 and rng.random() < 0.7) else "choose"
                    n = rng.choice([0, 0, 0, 1, 2, 3, -1, -2])
                    lines.append(f"\tstep {verb} {mode} {n} type {self.types[t1]}")
                lines.append("\tstep emit")
            lines.append("}")
            self.lines.extend(lines)
            self.rule_ids.append(rid)
            if not indep:
                self.firstn_rules.append(rid)
            rid += rng.choice([1, 1, 1, 2])

    def choose_args(self):
        # choose_args need bucket sizes: parse them back out of the text written so far.
        rng = self.rng
        sizes = {}
        current = None
        for l in self.lines:
            if l.endswith("{") and not l.startswith("rule"):
                current = l.split()[1]
                sizes[current] = 0
            elif l.startswith("\titem") and current:
                sizes[current] += 1
            elif l == "}":
                current = None
        self.pending_choose_args = sizes
        self.lines.append("")
        self.lines.append("__CHOOSE_ARGS__")
        self.choose_args_positions = rng.choice([1, 1, 2, 3])


def fill_choose_args(text, gen, binary_ids):
    rng = gen.rng
    out = ["# choose_args", "choose_args 0 {"]
    for name, size in gen.pending_choose_args.items():
        if size == 0 or rng.random() < 0.4:
            continue
        out.append("  {")
        out.append(f"    bucket_id {binary_ids[name]}")
        if rng.random() < 0.8:
            out.append("    weight_set [")
            for _ in range(gen.choose_args_positions):
                out.append("      [ " + " ".join(str(weight(rng)) for _ in range(size)) + " ]")
            out.append("    ]")
        if rng.random() < 0.3:
            out.append("    ids [ " + " ".join(str(rng.randint(-500, 500)) for _ in range(size)) + " ]")
        out.append("  }")
    out.append("}")
    return text.replace("__CHOOSE_ARGS__", "\n".join(out))


def run(cmd, cwd, stdout_path=None):
    """Runs a command (with a time limit: Ceph's tools occasionally hang in their crash handler)."""
    with open(os.path.join(cwd, stdout_path), "wb") if stdout_path else open(os.devnull, "wb") as out:
        try:
            return subprocess.run(["sh", "-c", cmd], cwd=cwd, stdout=out, stderr=subprocess.DEVNULL,
                                  timeout=20).returncode
        except subprocess.TimeoutExpired:
            return -1


def bucket_ids(cwd, binfile):
    import json
    dump = subprocess.run(["crushtool", "-i", binfile, "--dump"], cwd=cwd, capture_output=True, text=True).stdout
    d = json.loads(dump)
    return {b["name"]: b["id"] for b in d["buckets"]}, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--maps", type=int, default=20)
    ap.add_argument("--osdmaps", type=int, default=4)
    ap.add_argument("--xmax", type=int, default=255)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = a.out
    for sub in ("maps", "mappings", "osdmap", "hash"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    manifest = []

    def do(output, cmd):
        rc = run(cmd, out, None if output == "-" else output)
        if rc != 0:
            # A tool that failed (or crashed) produced no reference output: leave the case out.
            if output != "-":
                os.remove(os.path.join(out, output))
            return False
        manifest.append((output, cmd))
        return True

    made = 0
    while made < a.maps:
        name = f"m{a.seed}-{made}"
        gen = MapGen(rng, name)
        text = gen.generate()
        if "__CHOOSE_ARGS__" in text:
            tmp = text.replace("__CHOOSE_ARGS__", "")
            with open(os.path.join(out, "maps", name + ".txt"), "w") as f:
                f.write(tmp)
            if run(f"crushtool -c maps/{name}.txt -o maps/{name}.bin", out) != 0:
                continue
            ids, _ = bucket_ids(out, f"maps/{name}.bin")
            text = fill_choose_args(text, gen, ids)
        with open(os.path.join(out, "maps", name + ".txt"), "w") as f:
            f.write(text)
        if not do("-", f"crushtool -c maps/{name}.txt -o maps/{name}.bin"):
            print(f"skipping {name}: crushtool refused it", file=sys.stderr)
            continue
        made += 1
        do(f"maps/{name}.decompiled.txt", f"crushtool -d maps/{name}.bin")
        do(f"maps/{name}.dump.json", f"crushtool -i maps/{name}.bin --dump")
        do(f"maps/{name}.tree.txt", f"crushtool -i maps/{name}.bin --tree")
        _, dump = bucket_ids(out, f"maps/{name}.bin")
        max_dev = max([d["id"] for d in dump["devices"]] + [0])
        for rid in gen.rule_ids:
            for rep in rng.sample([1, 2, 3, 4, 5, 6], 2):
                extra, tag = "", ""
                r = rng.random()
                if r < 0.35:
                    ws = []
                    for _ in range(rng.randint(1, 4)):
                        ws.append(f"--weight {rng.randint(0, max_dev)} {rng.choice([0, 0.5, 0.25, 0.9, 0.01])}")
                    extra, tag = " " + " ".join(ws), ".weights-w"
                elif r < 0.5:
                    p = rng.randint(0, 20)
                    extra, tag = f" --pool-id {p}", f".pool-{p}"
                lo = rng.choice([0, 0, 17, 1000])
                outp = f"mappings/{name}.rule-{rid}.rep-{rep}{tag}.out"
                do(outp, f"crushtool -i maps/{name}.bin --test --show-mappings --rule {rid} --num-rep {rep} "
                         f"--min-x {lo} --max-x {lo + a.xmax}{extra}")
        # crushtool's statistics are only trustworthy for replicated rules: with indep holes it
        # counts past the end of its tables (and may crash), so only firstn rules get them.
        if rng.random() < 0.3 and gen.firstn_rules:
            rid = rng.choice(gen.firstn_rules)
            do(f"mappings/{name}.rule-{rid}.stats.out", f"crushtool -i maps/{name}.bin --test --show-statistics "
                                             f"--show-utilization --rule {rid} --num-rep 3 --min-x 0 --max-x 99")
        if rng.random() < 0.2:
            do("-", f"crushtool -c maps/{name}.txt --set-choose-total-tries {rng.randint(1, 60)} "
                    f"--set-chooseleaf-vary-r {rng.randint(0, 1)} -o maps/{name}-set.bin")
            do(f"maps/{name}-set.decompiled.txt", f"crushtool -d maps/{name}-set.bin")
    # osdmaps
    names = ["foo", "bar", "rbd_data.1234", "a  b", "obj-%d", "ÿnicode-é", "x" * 100]
    objs = [n.replace("%d", str(i)) for i, n in enumerate(names)] + [f"o{rng.randint(0, 1 << 30)}" for _ in range(25)]
    with open(os.path.join(out, "osdmap", "objects.txt"), "w") as f:
        f.write("\n".join(objs) + "\n")
    for k in range(a.osdmaps):
        n = rng.randint(1, 30)
        om = f"osdmap/om{a.seed}-{k}.osdmap"
        args = f"--pg-bits {rng.randint(0, 4)} --pgp-bits {rng.randint(0, 3)}"
        if rng.random() < 0.5:
            args += " --osd_crush_chooseleaf_type 0"
        if not do("-", f"osdmaptool --createsimple {n} --with-default-pool {args} {om} --clobber"):
            continue
        if rng.random() < 0.5:
            # import one of the generated maps that fits
            cands = [f"m{a.seed}-{i}" for i in range(a.maps)]
            rng.shuffle(cands)
            for c in cands:
                if not os.path.exists(os.path.join(out, "maps", c + ".bin")):
                    continue
                _, d = bucket_ids(out, f"maps/{c}.bin")
                if max([x["id"] for x in d["devices"]] + [0]) < n and d["rules"] and d["rules"][0]["rule_id"] == 0:
                    do("-", f"osdmaptool {om} --import-crush maps/{c}.bin")
                    break
        base = om[:-len(".osdmap")]
        do(f"{base}.print.txt", f"osdmaptool {om} --print")
        do("-", f"osdmaptool {om} --export-crush {base}.crush.bin")
        do(f"{base}.crush.txt", f"crushtool -d {base}.crush.bin")
        mark = f" --mark-out {rng.randint(0, n - 1)}" if rng.random() < 0.5 else ""
        do(f"{base}.objects.out",
           f"while IFS= read -r n; do osdmaptool {om} --mark-up-in{mark} --test-map-object \"$n\" --pool 1; done < osdmap/objects.txt")
        do(f"{base}.pgs-dump.out", f"osdmaptool {om} --mark-up-in{mark} --test-map-pgs-dump --pool 1")
        do(f"{base}.pgs-dump-all.out", f"osdmaptool {om} --mark-up-in{mark} --test-map-pgs-dump-all --pool 1")
    with open(os.path.join(out, "MANIFEST.tsv"), "w") as f:
        f.write("output\tcommand\n")
        for o, c in manifest:
            f.write(f"{o}\t{c}\n")
    print(f"{len(manifest)} commands, {made} maps in {out}")


if __name__ == "__main__":
    main()

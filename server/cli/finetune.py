"""`skilldeck finetune advise|few-shot|validate|train|status|eval|cancel`: fine-tuning from the shell."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("finetune", help="decide on, validate data for, train and evaluate LoRA fine-tunes",
                              description="Fine-tuning: advice, dataset validation, training jobs (LoRA by "
                                          "default) and evaluation against the base model. Jobs run in the "
                                          "background under $SKILLDECK_HOME/jobs.")
    sub = p.add_subparsers(dest="finetune_command", metavar="ACTION", required=True)

    a = sub.add_parser("advise", help="should this be prompting, retrieval, LoRA, QLoRA or full fine-tuning?")
    a.add_argument("--examples", type=int, required=True, help="number of good labelled examples")
    a.add_argument("--task-change", default="stable", choices=["stable", "monthly", "weekly", "daily"])
    a.add_argument("--gap", default="unknown", choices=["behaviour", "knowledge", "both", "unknown"])
    a.add_argument("--model-params-b", type=float, default=7.0, help="base model size in billions")
    a.add_argument("--gpu-memory-gb", type=float, default=None)
    a.add_argument("--no-eval-set", dest="can_evaluate", action="store_false", help="no held-out set exists yet")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=run_advise)

    v = sub.add_parser("validate", help="check instruction data; exit 1 when errors are found")
    v.add_argument("train", type=Path)
    v.add_argument("--val", type=Path)
    v.add_argument("--test", type=Path)
    v.add_argument("--max-seq-len", type=int, default=2048)
    v.add_argument("--tokenizer", help="model folder or tokenizer.json for exact token counts")
    v.add_argument("--write-splits", type=Path, metavar="DIR", help="write clean group-aware splits here")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_validate)

    f = sub.add_parser("few-shot", help="choose 3-5 few-shot examples from a dataset and print the prompt block")
    f.add_argument("dataset", type=Path)
    f.add_argument("--task", help="the record 'task' the examples are for (needed when there are several)")
    f.add_argument("--examples", type=int, default=4, help="how many examples, 3-5 (default 4)")
    f.add_argument("--budget", type=int, default=1000, help="warn when the block exceeds this many tokens")
    f.add_argument("--tokenizer", help="model folder, tokenizer.json or GGUF file for exact token counts")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=run_few_shot)

    t = sub.add_parser("train", help="start a training job (LoRA r16 alpha32 by default)")
    t.add_argument("--base-model", help="local model folder or cached hub id")
    t.add_argument("--train", type=Path)
    t.add_argument("--val", type=Path)
    t.add_argument("--method", default="lora", choices=["lora", "qlora", "full"])
    t.add_argument("--max-steps", type=int)
    t.add_argument("--epochs", type=float, default=3.0)
    t.add_argument("--lr", type=float)
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other training option, e.g. --set batch_size=8 --set packing=true")
    t.add_argument("--resume", metavar="JOB", help="resume a cancelled or interrupted job")
    t.add_argument("--wait", action="store_true", help="follow progress until the job ends")
    t.set_defaults(func=run_train)

    s = sub.add_parser("status", help="one job's status, or all fine-tuning jobs")
    s.add_argument("job", nargs="?")
    s.add_argument("--wait", action="store_true", help="follow progress until the job ends")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_status)

    e = sub.add_parser("eval", help="compare a tuned model with its base on held-out data")
    e.add_argument("--test", type=Path, required=True)
    e.add_argument("--job", help="a succeeded training job (gives base model and adapter)")
    e.add_argument("--base-model")
    e.add_argument("--tuned-path", type=Path)
    e.add_argument("--max-examples", type=int, default=200)
    e.add_argument("--max-new-tokens", type=int, default=256)
    e.add_argument("--wait", action="store_true")
    e.set_defaults(func=run_eval)

    c = sub.add_parser("cancel", help="cancel a job (training saves a checkpoint first)")
    c.add_argument("job")
    c.set_defaults(func=run_cancel)


def _service():
    from skilldeck.tools.finetune.service import FinetuneService
    from skilldeck.tools.home import home_dir
    from skilldeck.tools.jobs import JobManager

    return FinetuneService(JobManager(home_dir() / "jobs"))


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_advise(args: argparse.Namespace) -> int:
    from skilldeck.tools.finetune.advisor import AdviceRequest, advise

    advice = advise(AdviceRequest(examples=args.examples, task_change=args.task_change, gap=args.gap,
                                  model_params_b=args.model_params_b, gpu_memory_gb=args.gpu_memory_gb,
                                  can_evaluate=args.can_evaluate))
    if args.json:
        print(json.dumps(advice.to_dict(), indent=1))
        return 0
    print(f"{advice.approach}: {advice.summary}")
    for line in advice.reasons:
        print(f"  - {line}")
    if advice.memory_gb:
        print("GPU memory needed (GB): " + ", ".join(f"{k} {v:g}" for k, v in advice.memory_gb.items()))
    if advice.hyperparameters:
        print("start with: " + ", ".join(f"{k}={v}" for k, v in advice.hyperparameters.items()))
    for line in advice.cautions:
        print(f"  caution: {line}")
    for line in advice.next_steps:
        print(f"  next: {line}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from skilldeck.tools.finetune import validate, write_splits

    files = {k: v for k, v in (("train", args.train), ("val", args.val), ("test", args.test)) if v}
    report = validate(files, max_seq_len=args.max_seq_len, tokenizer=args.tokenizer)
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.render())
    if args.write_splits:
        result = write_splits(files, args.write_splits)
        print(f"clean splits: {result.counts} in {args.write_splits} (dropped: {result.dropped or 'none'})")
    return 0 if report.ok else 1


def run_few_shot(args: argparse.Namespace) -> int:
    from skilldeck.tools.finetune.fewshot import build_few_shot

    shots = build_few_shot(args.dataset, task=args.task, count=args.examples, token_budget=args.budget,
                           tokenizer=args.tokenizer)
    print(json.dumps(shots.to_dict(), indent=1) if args.json else shots.render_text())
    return 0


def _follow(job_id: str) -> int:
    import time

    from skilldeck.tools.finetune.service import summary

    svc, last = _service(), None
    while True:
        info = svc.jobs.get(job_id)
        message = (info.progress or {}).get("message")
        if message and message != last:
            print(f"{job_id}: {message}", flush=True)
            last = message
        if info.status.finished:
            print(json.dumps({**summary(info), "result": info.result}, indent=1))
            return 0 if info.status.value == "succeeded" else 1
        time.sleep(1.0)


def run_train(args: argparse.Namespace) -> int:
    from skilldeck.tools.errors import InvalidInputError

    svc = _service()
    if args.resume:
        job_id = svc.resume(args.resume)["id"]
    else:
        if not args.base_model or not args.train:
            raise InvalidInputError("train needs --base-model and --train (or --resume JOB).")
        spec = {"base_model": args.base_model, "train_path": str(args.train.resolve()), "method": args.method,
                "num_epochs": args.epochs}
        for key, value in (("val_path", args.val and str(args.val.resolve())), ("max_steps", args.max_steps),
                           ("learning_rate", args.lr)):
            if value is not None:
                spec[key] = value
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInputError(f"--set {item!r} must look like KEY=VALUE, e.g. batch_size=8.")
            spec[key.strip()] = _value(value)
        job_id = svc.start_training(spec).id
    print(f"started {job_id}")
    return _follow(job_id) if args.wait else 0


def run_status(args: argparse.Namespace) -> int:
    svc = _service()
    if args.job and args.wait:
        return _follow(args.job)
    data = svc.status(args.job) if args.job else svc.list()
    if args.json or args.job:
        print(json.dumps(data, indent=1))
    else:
        for job in data:
            print(f"{job['id']}  {job['status']:<11} {job['progress'].get('message', '')}")
        if not data:
            print("no fine-tuning jobs yet")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    spec = {"test_path": str(args.test.resolve()), "max_examples": args.max_examples,
            "max_new_tokens": args.max_new_tokens}
    if args.base_model:
        spec["base_model"] = args.base_model
    if args.tuned_path:
        spec["tuned_path"] = str(args.tuned_path.resolve())
    job_id = _service().start_evaluation(spec, args.job).id
    print(f"started {job_id}")
    return _follow(job_id) if args.wait else 0


def run_cancel(args: argparse.Namespace) -> int:
    print(json.dumps(_service().cancel(args.job), indent=1))
    return 0

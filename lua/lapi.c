/*
 * lua/lapi.c: the option tables of the Lua-written calls (gd.compare,
 * gd.report, gd.plot, gd.benchmark, gd.resume, gd.fork), the layouts of
 * what gradus returns, the pages `gradus doc NAME` and gd.doc(NAME) print
 * from them (lapi.h), and gd._options / gd._keys / gd._option_tables, which
 * hand the one reader (lopt.c) to the Lua-written calls and the tests.
 *
 * A page is sections of keys. The sections marked `options` are what the
 * call accepts; the tables an option takes (checkpoint = { ... }) follow
 * as sections of their own, from the rows' `sub`. The other sections
 * describe tables gradus returns (run, run.history, gd.compare's results);
 * a test compares them with real ones.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "lapi.h"
#include "ldata.h"
#include "lgradus.h"

/* ---------------------------------------------------------------------------
 * The tables
 * ------------------------------------------------------------------------- */

static const lgd_key run_keys[] = {
    LGD_KEY("status", "string", "", "\"ok\", \"diverged\" or \"failed\""),
    LGD_KEY("model", "model", "", "the trained model"),
    LGD_KEY("steps", "integer", "", "updates done (a resumed run counts from its start)"),
    LGD_KEY("epochs", "integer", "", "epochs done"),
    LGD_KEY("steps_per_epoch", "integer", "", "updates per epoch"),
    LGD_KEY("seconds", "number", "", "wall time of this call"),
    LGD_KEY("history", "table", "", "per epoch and per monitored step (gradus doc history)"),
    LGD_KEY("diagnoses", "list", "", "{ kind =, message = }: what the history suggests"),
    LGD_KEY("diverged", "table", "(ok runs: nil)",
      "{ step, epoch, layer, what, reason }; reason \"not finite\" or \"loss exploded\""),
    LGD_KEY("error", "string", "(ok runs: nil)", "why a \"failed\" run failed"),
    LGD_KEY("checkpoint", "string", "(nil)", "the last checkpoint this run wrote"),
    LGD_KEY("resumed_from", "table", "(nil)", "{ path, step, epoch, fork }: where a resumed run began"),
    LGD_KEY("stopped_early", "boolean", "(nil)", "early stopping ended the run (with early_stopping)"),
    LGD_KEY("best_epoch", "integer", "(nil)", "the epoch of the best val_loss (with early_stopping)"),
    LGD_KEY("restored_best", "boolean", "(nil)", "the model holds best_epoch's weights"),
    { NULL },
};

static const char *const backends[] = { "local", "slurm", NULL };

static const lgd_key sweep_run_keys[] = {
    LGD_CHOICE("backend", "local", backends, "the trials as child processes, or as Slurm jobs"),
    LGD_INT_OR("jobs", 1, "the cores", "local: worker processes, each with cores / jobs threads"),
    LGD_STR("dir", "\"sweeps\"", "where the sweep's directory is made"),
    LGD_STR("name", "the script's name", "the sweep's directory, DIR/NAME (a file name)"),
    LGD_STR("partition", "(Slurm's)", "slurm: the partition"),
    LGD_STR("account", "(Slurm's)", "slurm: the account"),
    LGD_STR("time", "(Slurm's)", "slurm: the time limit (30, 4:00:00, 1-12:00:00)"),
    LGD_INT_OR("cpus", 1, "1", "slurm: cpus (threads) per trial"),
    LGD_INT_OR("array_limit", 1, "MaxArraySize", "slurm: tasks per job array at most"),
    LGD_BOOL("resume", false, "continue the sweep at DIR/NAME (gradus sweep --resume)"),
    { NULL },
};

static const lgd_key compare_keys[] = {
    LGD_REQUIRED("base", LGD_IS_TABLE, "table of gd.train options", "what every variant shares"),
    LGD_REQUIRED("variants", LGD_IS_TABLE, "list of tables | gd.fork(...)",
      "each: gd.train options over base, plus name = and tune = { lr = { ... } }"),
    LGD_INT("repeats", 1, 1, "seeds per variant: base.seed, base.seed + 1, ..."),
    LGD_BOOL("progress", true, "a line per run on stderr"),
    LGD_SUB("run", "table", "(serial)", sweep_run_keys,
      "a sweep: each trial written down as data (DIR/NAME/TRIAL/trial.json) and run by "
      "`gradus trial` workers, never by re-running the script; backend \"local\" or "
      "\"slurm\" (README: Sweeps)"),
    { NULL },
};

static const lgd_key variant_keys[] = {
    LGD_KEY("name", "string", "\"variantN\"",
      "the row's name in the report: UTF-8, no control characters"),
    LGD_KEY("tune", "{ lr = list, seeds =, metric =, validation = }", "(none)",
      "try each lr first with tuning seeds of its own; the best is used for the repeats"),
    LGD_KEY("(any gd.train option)", "", "base's", "overrides base for this variant"),
    { NULL },
};

static const char *const tune_metrics[] = { "val_loss", "val_accuracy", "train_loss", NULL };

static const lgd_key tune_keys[] = {
    LGD_REQUIRED("lr", LGD_IS_TABLE, "list of numbers > 0", "the grid, e.g. gd.logspace(1e-5, 1e2, 13)"),
    LGD_KEY("seeds", "integer >= 1 | list of integers", "1",
      "tuning seeds: n after the repeats' seeds, or a list; never a seed of the repeats"),
    LGD_CHOICE("metric", "val_loss", tune_metrics,
      "what picks the lr (val_accuracy: highest wins); the report plots it against lr and "
      "warns when the best lr lies at the edge of the grid"),
    LGD_VALUE("validation", LGD_IS_DATASET, "data set", "base's validation",
      "the set tuning is judged on (gradus benchmark: a validation split; the repeats: test)"),
    { NULL },
};

static const char *const sizes[] = { "smoke", "small", "full", NULL };
static const char *const test_metrics[] = { "accuracy", "loss", "bpc", NULL };

static const lgd_key benchmark_keys[] = {
    LGD_REQUIRED("optimizers", LGD_IS_TABLE, "list of strings",
      "names, \"name{key=value,...}\" (read as data) or .so paths; sgd, momentum and adam "
      "are always added as baselines"),
    LGD_VALUE("problems", LGD_IS_TABLE, "list of strings", "all shipped",
      "quadratic_deep, fmnist_logreg, fmnist_mlp, fmnist_2c2d, fmnist_resnet, kjv_char, or "
      ".lua paths"),
    LGD_CHOICE("size", "small", sizes,
      "smoke: a few hundred samples, 1 epoch, 3 lrs, 2 seeds; small: 13 lrs 1e-5..1e2, 3 seeds; "
      "full: DeepOBS's 36 lrs, 10 seeds, full data"),
    LGD_INT_OR("seeds", 1, "by size", "evaluation seeds 1..n (tuning uses seed 1001)"),
    LGD_VALUE("grid", LGD_IS_TABLE, "{ lo =, hi =, n = }", "by size", "the log grid of lrs"),
    { "out", "string", "required (CLI: benchmark-out)",
      "the report directory: index.html, results.json, leaderboard.csv, problems/NAME/, "
      "cells/ (finished cells, reused when their key matches)",
      { .type = GD_OPT_STRING, .flags = GD_OPT_REQUIRED }, 0, NULL },
    LGD_VALUE("run", LGD_IS_TABLE, "{ backend =, jobs =, ... }", "(in this process)",
      "the trials as processes: gd.compare's run options but dir and name (the sweeps go to "
      "OUT/sweeps/PROBLEM.OPTIMIZER); a problem of yours whose data has no recipe "
      "(gd.data.tensor) runs in this process"),
    LGD_BOOL("progress", true, "a line per cell on stderr"),
    LGD_BOOL("plots", true, "draw the plots (needs gnuplot)"),
    { NULL },
};

static const lgd_key problem_keys[] = {
    { "name", NULL, NULL, "the problem's name in the report: UTF-8, no control characters",
      { .type = GD_OPT_STRING, .flags = GD_OPT_REQUIRED }, 0, NULL },
    LGD_REQUIRED("model", 0, "model spec | function(size)",
      "gd.sequential{ ... }, or a function returning one for \"smoke\", \"small\" or \"full\""),
    LGD_REQUIRED("data", LGD_IS_FUNCTION, "function(size)", "returns train, validation, test for "
      "\"smoke\", \"small\" or \"full\""),
    LGD_REQUIRED("loss", 0, "loss spec", ""),
    LGD_REQUIRED("batch", 0, "integer", ""),
    LGD_REQUIRED("epochs", LGD_IS_TABLE, "{ smoke =, small =, full = }", ""),
    { "metric", NULL, "required", "the test metric reported (bpc: bits per character, the loss / ln 2)",
      { .type = GD_OPT_ENUM, .flags = GD_OPT_REQUIRED, .choices = test_metrics }, 0, NULL },
    { "target", NULL, "required",
      "the test metric to reach (>= for accuracy, <= for loss and bpc): the speed measure's target",
      { .type = GD_OPT_NUMBER, .flags = GD_OPT_REQUIRED }, 0, NULL },
    { NULL },
};

static const lgd_key report_keys[] = {
    LGD_STR("dir", "(none)",
      "write summary.csv, history.csv, results.json, plots and index.html there (made if missing)"),
    LGD_BOOL("plots", true, "draw the plots (needs gnuplot)"),
    { NULL },
};

static const char *const plot_styles[] = { "lines", "points", "linespoints", "steps", "fsteps",
                                           "histeps", "impulses", "dots", NULL };

static const lgd_key plot_series_keys[] = {
    LGD_KEY("y", "list of numbers", "required", "the values (a bare list is y alone)"),
    LGD_KEY("x", "list of numbers", "1, 2, ...", "where they are"),
    LGD_STR("label", "\"series i\"", "in the key"),
    LGD_CHOICE("style", "lines", plot_styles, "how gnuplot draws it"),
    { NULL },
};

static const lgd_key plot_keys[] = {
    { "series", "list of tables", "required", "the curves, each { x =, y =, label =, style = }",
      { .flags = GD_OPT_REQUIRED }, LGD_IS_TABLE, plot_series_keys },
    { "file", NULL, NULL, "the output, ending in .png or .svg (its directory is made)",
      { .type = GD_OPT_STRING, .flags = GD_OPT_REQUIRED }, 0, NULL },
    LGD_STR("title", "(none)", "above the plot"),
    LGD_STR("xlabel", "(none)", "the x axis's label"),
    LGD_STR("ylabel", "(none)", "the y axis's label"),
    LGD_BOOL("logx", false, "a log x axis"),
    LGD_BOOL("logy", false, "a log y axis (points with y <= 0 are left out)"),
    { NULL },
};

/* gd.resume takes these; gd.fork these and its own (what would change the
 * run's numbers). */
#define RESUME_ROWS \
    LGD_KEY("epochs", "integer >= 1", "the run's", "a new total of epochs"),                      \
    LGD_KEY("data", "data set", "(rebuilt)", "the run's data, when it cannot be rebuilt"),        \
    LGD_KEY("validation", "data set", "(rebuilt)", "the run's validation set, likewise"),         \
    LGD_KEY("on_epoch", "function", "(none)", "as in gd.train"),                                  \
    LGD_KEY("on_step", "function", "(none)", "as in gd.train"),                                   \
    LGD_KEY("progress", "boolean", "true", "as in gd.train"),                                     \
    LGD_KEY("checkpoint", "table | false", "the run's", "where to write checkpoints from here"),  \
    LGD_KEY("name", "string", "the run's", "as in gd.train"),                                     \
    LGD_KEY("quiet_diagnoses", "boolean", "false", "as in gd.train"),

#define FORK_ROWS \
    LGD_KEY("optimizer", "optimizer spec", "the run's", "another optimizer (a new one starts afresh)"),  \
    LGD_KEY("lr", "number", "the run's", "the run's optimizer with this lr (keeps its state)"),          \
    LGD_KEY("schedule", "scheduler spec", "the run's", "as in gd.train"),                                \
    LGD_KEY("clip", "table", "the run's", "as in gd.train"),                                             \
    LGD_KEY("regularizers", "list", "the run's", "as in gd.train"),                                      \
    LGD_KEY("seed", "integer >= 0", "the run's", "another batch order and dropout masks from here"),     \
    LGD_KEY("monitor", "{ every = n }", "the run's", "as in gd.train"),                                  \
    LGD_KEY("early_stopping", "table", "the run's", "as in gd.train"),                                   \
    LGD_KEY("diverge", "{ factor = f } | false", "the run's", "as in gd.train"),

static const lgd_key resume_keys[] = { RESUME_ROWS { NULL } };
static const lgd_key fork_keys[] = { FORK_ROWS { NULL } };
static const lgd_key fork_all_keys[] = { FORK_ROWS RESUME_ROWS { NULL } };

static const lgd_key dataset_methods[] = {
    LGD_KEY("ds:size(), #ds", "integer", "", "samples"),
    LGD_KEY("ds:features()", "integer", "", "features per sample"),
    LGD_KEY("ds:classes()", "integer [, labels]", "",
      "classes (0: regression); a CSV set's labels as written, in class order"),
    LGD_KEY("ds:split{...}", "two data sets", "", "train, validation (its options above)"),
    LGD_KEY("ds:subset(n)", "data set", "", "the first n samples"),
    LGD_KEY("ds:standardize([of])", "data set", "", "zero mean, unit variance (of's statistics)"),
    LGD_KEY("ds:get(i)", "x, y", "", "sample i"),
    LGD_KEY("ds:tensors()", "x, y", "", "all samples as tensors"),
    LGD_KEY("ds:recipe()", "table", "", "how to rebuild it (gd.data.rebuild)"),
    LGD_KEY("ds:vocab()", "list of strings", "", "a text set's characters, id i at [i]"),
    LGD_KEY("ds:encode(text)", "tensor", "", "a text set's ids (1-based) of a string"),
    LGD_KEY("ds:decode(ids)", "string", "", "the text of 1-based ids (a tensor or a table)"),
    LGD_KEY("gd.data.synthetic.*", "data set", "", "small generated sets (below)"),
    { NULL },
};

static const lgd_key epoch_keys[] = {
    LGD_KEY("epoch", "integer", "", "from 1"),
    LGD_KEY("train_loss", "number", "", "mean loss over the epoch's steps, penalty included"),
    LGD_KEY("data_loss", "number", "(unknown: nil)",
      "train_loss without the regularizers' penalty (what the diagnoses read)"),
    LGD_KEY("penalty", "number", "(unknown: nil)",
      "the regularizers' share of train_loss (0 without any; nil in a regularized run's "
      "epochs up to a resume from a checkpoint older than format version 4)"),
    LGD_KEY("val_loss", "number", "(no validation: nil)", "on the validation set after the epoch"),
    LGD_KEY("val_accuracy", "number", "(nil)", "classification only"),
    LGD_KEY("lr", "number", "", "the lr of the epoch's last step"),
    LGD_KEY("seconds", "number", "", "the epoch's wall time, validation included"),
    { NULL },
};

static const lgd_key step_keys[] = {
    LGD_KEY("step", "integer", "", "update index, from 0"),
    LGD_KEY("epoch", "integer", "", "from 1"),
    LGD_KEY("loss", "number", "", "the batch's loss + penalty"),
    LGD_KEY("penalty", "number", "", "the regularizers' share"),
    LGD_KEY("lr", "number", "", "this update's lr"),
    LGD_KEY("grad_norm", "number", "", "global gradient L2 norm, before clipping"),
    LGD_KEY("clipped", "boolean", "", "clipping changed the gradients"),
    LGD_KEY("effective_lr", "number", "(nil)",
      "adaptive optimizers: their mean step scale; tensor-aware ones: |update| / |gradient|"),
    LGD_KEY("layers", "list", "", "one record per layer (below)"),
    { NULL },
};

static const lgd_key layer_keys[] = {
    LGD_KEY("name", "string", "", "the layer's name (dense1, relu2, ...)"),
    LGD_KEY("grad_norm", "number", "(no parameters: nil)", "L2 norm of its gradients"),
    LGD_KEY("param_norm", "number", "(nil)", "L2 norm of its parameters"),
    LGD_KEY("update_ratio", "number", "(nil)", "||delta W|| / ||W|| of this update"),
    LGD_KEY("act_mean", "number", "", "mean of its output"),
    LGD_KEY("act_std", "number", "", "standard deviation of its output"),
    LGD_KEY("saturated", "number", "(nil)", "sigmoid/tanh: fraction of saturated units"),
    LGD_KEY("dead", "number", "(nil)", "relu: fraction of units zero for the whole batch"),
    { NULL },
};

static const lgd_key results_keys[] = {
    LGD_KEY("variants", "list", "", "per variant: name, runs, config, lr, tuning, fork"),
    LGD_KEY("summary", "list", "", "per variant: statistics of the final metrics"),
    LGD_KEY("repeats", "integer", "", "runs per variant"),
    LGD_KEY("seeds", "list", "", "the seeds used"),
    LGD_KEY("base", "table", "", "gd.compare's base"),
    LGD_KEY("collected", "string", "(nil)", "gradus collect: the sweep directory read"),
    { NULL },
};

static const lgd_key results_run_keys[] = {
    LGD_KEY("seed", "integer", "", ""),
    LGD_KEY("status", "string", "", "as run.status"),
    LGD_KEY("metrics", "table", "", "final train_loss, val_loss, val_accuracy, seconds"),
    LGD_KEY("history", "table", "", "as run.history"),
    LGD_KEY("diverged", "table", "(nil)", "as run.diverged"),
    LGD_KEY("diagnoses", "list", "", "as run.diagnoses"),
    LGD_KEY("steps", "integer", "", ""),
    LGD_KEY("steps_per_epoch", "integer", "", "as run.steps_per_epoch"),
    LGD_KEY("seconds", "number", "", ""),
    LGD_KEY("resumed_from", "table", "(nil)", "forks: where they began"),
    LGD_KEY("missing", "string", "(nil)", "gradus collect: why the trial has no result (status \"missing\")"),
    LGD_KEY("error", "string", "(nil)", "status \"failed\": why (as run.error)"),
    { NULL },
};

static const lgd_key residual_keys[] = {
    LGD_KEY("[1], [2], ...", "layer spec | gd.sequential | gd.residual", "required",
      "the body, in order: y = body(x) + x, so it must keep the shape"),
    LGD_KEY("shortcut", "layer spec | gd.sequential | gd.residual", "(identity)",
      "y = body(x) + shortcut(x) instead: for a body that changes the shape"),
    { NULL },
};


static const lgd_key model_methods[] = {
    LGD_KEY("forward(x [, { training = }])", "tensor", "", "outputs for x [batch, input...]"),
    LGD_KEY("backward(dy)", "tensor", "",
      "after a training forward: adds the parameter gradients, returns dL/dx"),
    LGD_KEY("params()", "list", "",
      "{ name = \"res1.dense2.weight\", layer =, role =, value =, grad = }: live views, depth "
      "first (a block's body, then its shortcut)"),
    LGD_KEY("buffers()", "list", "", "non-trained state: batch norm's running statistics"),
    LGD_KEY("summary()", "table", "", "a row per layer and block: name (its path), kind, input, output, "
      "params, depth; prints as a table"),
    LGD_KEY("predict(x)", "list", "", "class numbers (1-based)"),
    LGD_KEY("evaluate(ds)", "table", "", "{ loss =, accuracy = }"),
    LGD_KEY("save(path)", "", "", "a model file; gd.load_model(path) reads it back"),
    LGD_KEY("flat_params()", "tensor [n]", "", "every parameter as one live view, params() order"),
    LGD_KEY("flat_grads()", "tensor [n]", "", "every gradient likewise"),
    LGD_KEY("zero_grad(), reset(seed)", "", "", "gradients to 0; the initial weights of `seed` again"),
    { NULL },
};

static const lgd_key summary_keys[] = {
    LGD_KEY("name", "string", "", "the variant"),
    LGD_KEY("n", "integer", "", "runs that finished (status ok)"),
    LGD_KEY("diverged", "integer", "", "runs that diverged"),
    LGD_KEY("missing", "integer", "", "runs that failed or whose trial has no result: neither "
      "diverged nor counted in the win rate"),
    LGD_KEY("mean", "table", "", "per metric (train_loss, val_loss, val_accuracy, seconds)"),
    LGD_KEY("std", "table", "", "per metric"),
    LGD_KEY("ci95", "table", "", "per metric: half-width of the 95% CI (Student's t)"),
    LGD_KEY("diff", "table", "", "per metric: mean difference to variant 1, paired by seed"),
    LGD_KEY("diff_ci95", "table", "", "per metric"),
    LGD_KEY("win_rate", "number", "(variant 1: nil)", "fraction of seeds that beat variant 1 (pairs "
      "with a failed or missing run left out)"),
    LGD_KEY("lr", "number", "(nil)", "the tuned lr"),
    { NULL },
};

static const lgd_key probe_methods[] = {
    LGD_KEY("p:loss()", "number", "", "mean data loss over the probe set"),
    LGD_KEY("p:grad()", "tensor [n], number", "", "mean gradient (params order) and the loss"),
    LGD_KEY("p:hvp(v)", "tensor [n]", "", "H·v by differences of gradients (step 1e-3·|w|/|v|)"),
    LGD_KEY("p:eigen{...}", "table", "",
      "{ values, vectors, residuals, residual, iters }: top-k by Lanczos, largest first"),
    LGD_KEY("p:trace{...}", "table", "", "{ trace, se, probes, method }"),
    LGD_KEY("p:noise_scale{...}", "table", "",
      "{ b_simple = tr_sigma / grad_sq, tr_sigma, grad_sq, exact, small, big, repeats }"),
    LGD_KEY("p:slice{...}", "table", "", "{ alphas, loss, direction }: L(w + α·d)"),
    LGD_KEY("p:surface{...}", "table", "", "{ alphas, betas, loss[i][j], directions }: L(w + α·d1 + β·d2)"),
    LGD_KEY("p:samples()", "integer", "", "the probe set's size"),
    { NULL },
};

static const lgd_key probe_record_keys[] = {
    LGD_KEY("step", "integer", "", "updates done when measured"),
    LGD_KEY("lr", "number", "", "the lr of the update that follows"),
    LGD_KEY("sharpness", "number", "(not due: nil)", "top Hessian eigenvalue (Lanczos, warm-started)"),
    LGD_KEY("sharpness_iters", "integer", "(nil)", "Lanczos iterations it took"),
    LGD_KEY("sharpness_residual", "number", "(nil)", "its residual estimate"),
    LGD_KEY("trace", "number", "(nil)", "Hutchinson's tr(H)"),
    LGD_KEY("trace_se", "number", "(nil)", "its standard error"),
    LGD_KEY("noise_scale", "number", "(nil)", "B_simple = tr(Σ)/|G|²"),
    LGD_KEY("noise_tr_sigma", "number", "(nil)", "tr(Σ), per-example covariance"),
    LGD_KEY("noise_grad_sq", "number", "(nil)", "|G|²"),
    LGD_KEY("distance", "number", "(nil)", "‖w − w_start‖"),
    LGD_KEY("distance_layers", "table", "(nil)", "layer name -> its share"),
    LGD_KEY("alpha", "number", "(nil)", "of the update from this step (Cockpit's α)"),
    LGD_KEY("alpha_loss_before", "number", "(nil)", "its batch's loss before the update"),
    LGD_KEY("alpha_loss_after", "number", "(nil)", "and after"),
    { NULL },
};

static const lgd_key tensor_methods[] = {
    LGD_KEY("gd.tensor(t [, shape])", "tensor", "", "a copy of a table ({ shape =, ... }, nested, flat) or tensor"),
    LGD_KEY("gd.tensor.zeros(shape)", "tensor", "", "zeros; shape a table or the dimensions"),
    LGD_KEY("gd.tensor.full(shape, v)", "tensor", "", "every element v"),
    LGD_KEY("x[i], x[i] = v, #x", "number", "", "element i of the flat row-major data (1-based)"),
    LGD_KEY("x:shape(), x:numel()", "table, integer", "", ""),
    LGD_KEY("x:totable()", "table", "", "the elements, flat"),
    LGD_KEY("x:clone(), x:copy()", "tensor", "", "a new tensor with the same elements"),
    LGD_KEY("x:copy(src)", "x", "", "overwrite x with src's elements (writes through views)"),
    LGD_KEY("x:fill(v)", "x", "", "every element v"),
    LGD_KEY("x:reshape(shape)", "tensor", "", "a view with another shape"),
    LGD_KEY("x:slice(i, j)", "tensor", "", "a live 1-D view of elements i..j"),
    LGD_KEY("x:row(i)", "tensor", "", "a live view of x[i] (the first dimension dropped)"),
    LGD_KEY("x:dot(y)", "number", "", "Σ x·y over the elements (double sum)"),
    LGD_KEY("y:axpy(a, x)", "y", "", "y += a·x in place"),
    LGD_KEY("x:scale(a)", "x", "", "x *= a in place"),
    LGD_KEY("x:norm(), x:sum()", "number", "", "L2 norm, sum (double)"),
    { NULL },
};


/* ---------------------------------------------------------------------------
 * Pages
 * ------------------------------------------------------------------------- */

enum { MAX_SECTIONS = 10 };

typedef struct section {
    const char *title;
    const lgd_key *keys;
    int options;            /* 1: the call's keys; 2: a nested table's; 0: fields returned */
} section;

typedef struct page {
    const char *name;
    const char *usage;
    const char *about;
    section sec[MAX_SECTIONS];
} page;

static const page pages[] = {
    { "train", "local run = gd.train{ model = ..., data = ..., loss = ..., optimizer = ... }",
      "train a model in C, epoch by epoch; divergence is a result, not an error",
      { { "options", lgd_train_keys, 1 }, { "the run it returns", run_keys, 0 } } },
    { "compare", "local results = gd.compare{ base = { ... }, variants = { ... }, repeats = n }",
      "variants x seeds with common random numbers (the same seed: the same start and batches)",
      { { "options", compare_keys, 1 }, { "a variant", variant_keys, 2 },
        { "a variant's tune = { ... }", tune_keys, 2 },
        { "it returns (gradus doc results)", results_keys, 0 } } },
    { "benchmark", "gradus benchmark [--problems LIST] [--size smoke|small|full] [--seeds N] "
      "[--grid LO:HI:N] [--backend local|slurm] [--jobs N] [--out DIR] OPTIMIZER...   or   gd.benchmark{ optimizers = { ... } }",
      "each optimizer and the baselines sgd, momentum and adam on each problem by the DeepOBS "
      "protocol (lr tuned on a log grid against the validation metric with tuning seeds of its "
      "own, the best lr rerun with fresh seeds on the test set); reports performance (test "
      "metric, mean +- 95% CI), speed (epoch and seconds to the target), the metric against lr, "
      "and AlgoPerf's performance profiles and score (integral of rho over tau in [1, 4] / 3; a "
      "miss or more than 4x the fastest counts as not reached); gradus report DIR rebuilds the "
      "page. --backend slurm or --jobs > 1 run the trials as processes (the sweep machinery)",
      { { "options of gd.benchmark", benchmark_keys, 1 }, { "a problem file returns", problem_keys, 2 } }, },
    { "report", "gd.report(results, { dir = \"out/x\" })",
      "the comparison table and diagnoses on stdout; with dir, the data files, plots and a page, "
      "index.html (gradus report DIR [DIR...] rebuilds it from results.json, merging several)",
      { { "options", report_keys, 1 } } },
    { "plot", "gd.plot{ series = { { x = {...}, y = {...}, label = \"a\" } }, file = \"out/a.png\" }",
      "a script's own curves, drawn by gnuplot (names reach it only as quoted text)",
      { { "options", plot_keys, 1 } } },
    { "resume", "local run = gd.resume(\"out/run.ckpt\", { epochs = n })",
      "continue a checkpoint's run exactly; only what does not change its numbers may be given "
      "(gradus resume FILE [EPOCHS] from the shell)",
      { { "options", resume_keys, 1 } } },
    { "fork", "local v = gd.fork(\"out/run.ckpt\", { optimizer = gd.optim.adam{} })",
      "a what-if from a checkpoint's state: a variant for gd.compare, or run it with gd.train(v)",
      { { "options", fork_keys, 1 }, { "and those of gd.resume", resume_keys, 1 } } },
    { "model", "local net = gd.sequential{ gd.layer.dense{ units = 64 }, gd.residual{ "
      "gd.layer.dense{ units = 64 }, gd.layer.relu{} }, gd.layer.dense{ units = 10 } }",
      "model specs: gd.sequential and gd.residual nest to any depth; layers are named by path "
      "(dense1, res1.dense1, res1.shortcut) in summaries, telemetry, diagnoses, checkpoints and "
      "parameter groups ({ layer = \"res1.*\" }: a glob, or a block's path for all its layers)",
      { { "gd.residual{ ... }", residual_keys, 1 }, { "spec:build{ ... }", lgd_build_keys, 1 },
        { "a model", model_methods, 0 } } },
    { "data", "local train = gd.data.fashion_mnist{ split = \"train\", limit = 1000 }",
      "data sets: gd.data.fashion_mnist, gd.data.csv (gradus doc data.csv), gd.data.text (gradus "
      "doc data.text), gd.data.tensor, "
      "gd.data.synthetic.*",
      { { "gd.data.fashion_mnist{ ... }", lgd_fashion_mnist_keys, 1 },
        { "gd.data.tensor{ ... }", lgd_tensor_data_keys, 1 },
        { "ds:split{ ... }", lgd_split_keys, 1 },
        { "a data set", dataset_methods, 0 },
        { "gd.data.synthetic.spirals{ ... }", lgd_spirals_keys, 2 },
        { "gd.data.synthetic.blobs{ ... }", lgd_blobs_keys, 2 },
        { "gd.data.synthetic.xor{ ... }", lgd_xor_keys, 2 },
        { "gd.data.synthetic.regression{ ... }", lgd_regression_keys, 2 },
        { "gd.data.synthetic.quadratic_deep{ ... }", lgd_quadratic_deep_keys, 2 } } },
    { "data.text", "local train = gd.data.text{ context = 128, split = \"train\" }",
      "a character-level language-modelling set: x = T character ids, y = the next T; an "
      "epoch is (characters - 1) / T windows, one per stretch of T characters, each starting "
      "at a random offset within its stretch (from the run's seed and the epoch); evaluation "
      "uses the windows at offsets 0, T, 2T, ...",
      { { "options", lgd_text_keys, 1 } } },
    { "data.csv", "local ds = gd.data.csv{ path = \"iris.csv\", target = \"species\", "
      "classes = true }", "a data set from a CSV file",
      { { "options", lgd_csv_keys, 1 } } },
    { "history", "run.history.epochs[e].val_loss, run.history.steps[i].layers[j].grad_norm",
      "what a run records: a record per epoch, and per monitored step (monitor = { every = n })",
      { { "history.epochs[e]", epoch_keys, 0 }, { "history.steps[i]", step_keys, 0 },
        { "history.steps[i].layers[j]", layer_keys, 0 },
        { "history.probes[i] (monitor.probes)", probe_record_keys, 0 } } },
    { "results", "results.summary[i].mean.val_loss, results.variants[i].runs[r].history",
      "what gd.compare returns (and gd.report writes to results.json)",
      { { "results", results_keys, 0 }, { "results.summary[i]", summary_keys, 0 },
        { "results.variants[i].runs[r]", results_run_keys, 0 } } },
    { "probe", "local p = gd.probe{ model = m, data = ds, samples = 2048 }; print(p:eigen{ k = 1 }.values[1])",
      "curvature, gradient noise and loss landscapes of a model on a probe set drawn once from "
      "the seed; every call leaves the model as it found it (weights, gradients, batch-norm "
      "statistics), batch norm in training mode on each pass, dropout off",
      { { "options", lgd_probe_keys, 1 }, { "methods", probe_methods, 0 },
        { "p:eigen{ ... }", lgd_probe_eigen_keys, 2 }, { "p:trace{ ... }", lgd_probe_trace_keys, 2 },
        { "p:noise_scale{ ... }", lgd_probe_noise_keys, 2 },
        { "p:slice{ ... }", lgd_probe_slice_keys, 2 },
        { "p:surface{ ... }", lgd_probe_surface_keys, 2 },
        { "gd.train's monitor = { probes = { ... } } (run.history.probes: gradus doc history)",
          lgd_monitor_probe_keys, 2 } } },
    { "tensor", "local v = m:flat_params():copy(); v:axpy(-0.1, m:flat_grads())",
      "float32 tensors: views of a model's memory or owning their own; vector operations in C",
      { { "calls", tensor_methods, 0 } } },
};

enum { NPAGES = sizeof pages / sizeof *pages };

static const page *find_page(const char *name)
{
    for (int i = 0; i < NPAGES; i++)
        if (strcmp(pages[i].name, name) == 0)
            return &pages[i];
    return NULL;
}

const char *lgd_doc_pages(void)
{
    static char list[256];   /* the same for every state: filled once */
    if (!list[0])
        for (size_t i = 0, used = 0; i < NPAGES && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     pages[i].name);
    return list;
}

/* ---------------------------------------------------------------------------
 * The option tables by the name their reader gives them ("gd.train",
 * "gd.train: checkpoint", "gd.train: monitor.probes.trace"), for the
 * Lua-written calls (gd._options) and the test that walks them all.
 * ------------------------------------------------------------------------- */

static const struct {
    const char *what;
    const lgd_key *keys;
} roots[] = {
    { "gd.train", lgd_train_keys }, { "gd.compare", compare_keys },
    { "gd.compare: tune", tune_keys }, { "gd.report", report_keys }, { "gd.plot", plot_keys },
    { "gd.resume", resume_keys },
    { "gd.fork", fork_all_keys }, { "gd.benchmark", benchmark_keys },
    { "benchmark: problem", problem_keys }, { "gd.probe", lgd_probe_keys },
    { "probe:eigen", lgd_probe_eigen_keys }, { "probe:trace", lgd_probe_trace_keys },
    { "probe:noise_scale", lgd_probe_noise_keys }, { "probe:slice", lgd_probe_slice_keys },
    { "probe:surface", lgd_probe_surface_keys }, { "model:generate", lgd_generate_keys },
    { "sequential:build", lgd_build_keys }, { "residual:build", lgd_build_keys },
    { "gd.data.fashion_mnist", lgd_fashion_mnist_keys }, { "gd.data.csv", lgd_csv_keys },
    { "gd.data.text", lgd_text_keys }, { "gd.data.tensor", lgd_tensor_data_keys },
    { "split", lgd_split_keys },
    { "gd.data.synthetic.spirals", lgd_spirals_keys }, { "gd.data.synthetic.blobs", lgd_blobs_keys },
    { "gd.data.synthetic.xor", lgd_xor_keys },
    { "gd.data.synthetic.regression", lgd_regression_keys },
    { "gd.data.synthetic.quadratic_deep", lgd_quadratic_deep_keys },
};

/* "gd.train" + "checkpoint" -> "gd.train: checkpoint"; then ".every". */
static const char *child_what(lua_State *L, const char *what, const char *name)
{
    return lua_pushfstring(L, strstr(what, ": ") ? "%s.%s" : "%s: %s", what, name);
}

/* The table named `what` (a root or a table nested in one), or NULL. */
static const lgd_key *find_table(lua_State *L, const char *what, const char *at,
                                 const lgd_key *keys)
{
    for (int i = 0; keys && keys[i].name; i++) {
        if (!keys[i].sub)
            continue;
        const char *w = child_what(L, at, keys[i].name);
        const lgd_key *found = strcmp(w, what) == 0 ? keys[i].sub
                                                     : find_table(L, what, w, keys[i].sub);
        lua_pop(L, 1);
        if (found)
            return found;
    }
    for (size_t r = 0; !keys && r < sizeof roots / sizeof *roots; r++) {
        const lgd_key *found = strcmp(roots[r].what, what) == 0
                                   ? roots[r].keys : find_table(L, what, roots[r].what, roots[r].keys);
        if (found)
            return found;
    }
    return NULL;
}

static const lgd_key *check_table(lua_State *L, int arg)
{
    const lgd_key *keys = find_table(L, luaL_checkstring(L, arg), NULL, NULL);
    if (!keys)
        luaL_argerror(L, arg, "no such option table");
    return keys;
}

/* gd._options(what, opts [, shown]) -> opts read by the one reader, with
 * the defaults of the keys not given; errors name `shown` (else what). */
static int api_options(lua_State *L)
{
    const lgd_key *keys = check_table(L, 1);
    gd_value v[LGD_MAX_OPTIONS];
    int n = 0;
    while (keys[n].name)
        n++;
    lgd_read_options(L, 2, luaL_optstring(L, 3, lua_tostring(L, 1)), keys, v);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const gd_option_spec *o = &keys[i].check;
        if (lua_istable(L, 2))
            lua_getfield(L, 2, keys[i].name);
        else
            lua_pushnil(L);
        int given = !lua_isnil(L, -1);
        if (given && o->type == GD_OPT_INTEGER && lua_type(L, -1) == LUA_TNUMBER) {
            lua_pop(L, 1);
            lua_pushinteger(L, (lua_Integer)v[i].u.i);   /* 2.0 reads as 2 */
        } else if (given || !v[i].present || !o->type) {
            /* as given: a string keeps its bytes past a NUL for the caller's checks */
        } else if (lua_pop(L, 1), o->type == GD_OPT_INTEGER) {
            lua_pushinteger(L, (lua_Integer)v[i].u.i);
        } else if (o->type == GD_OPT_NUMBER) {
            lua_pushnumber(L, v[i].u.num);
        } else if (o->type == GD_OPT_BOOLEAN) {
            lua_pushboolean(L, v[i].u.b);
        } else if (o->type == GD_OPT_ENUM) {
            lua_pushstring(L, o->choices[v[i].u.e]);
        } else {
            lua_pushstring(L, v[i].u.s);
        }
        lua_setfield(L, -2, keys[i].name);
    }
    return 1;
}

/* The accepted keys of a page: its option sections, in order. */
static int page_options(const page *p, const lgd_key **lists)
{
    int n = 0;
    for (int s = 0; s < MAX_SECTIONS && p->sec[s].keys; s++)
        if (p->sec[s].options == 1)
            lists[n++] = p->sec[s].keys;
    return n;
}

/* gd._keys(page or table) -> { name, ... }: the keys a call accepts. */
static int api_keys(lua_State *L)
{
    const page *p = find_page(luaL_checkstring(L, 1));
    const lgd_key *lists[MAX_SECTIONS];
    int n = p ? page_options(p, lists) : 1, k = 0;
    if (!p)
        lists[0] = check_table(L, 1);
    lua_newtable(L);
    for (int l = 0; l < n; l++)
        for (int i = 0; lists[l][i].name; i++) {
            lua_pushstring(L, lists[l][i].name);
            lua_rawseti(L, -2, ++k);
        }
    return 1;
}

static void add_tables(lua_State *L, int list, const char *what, const lgd_key *keys)
{
    lua_pushstring(L, what);
    lua_rawseti(L, list, (lua_Integer)luaL_len(L, list) + 1);
    for (int i = 0; keys[i].name; i++)
        if (keys[i].sub) {
            add_tables(L, list, child_what(L, what, keys[i].name), keys[i].sub);
            lua_pop(L, 1);
        }
}

/* gd._option_tables() -> { "gd.train", "gd.train: clip", ... }: every
 * table the reader reads, by the name its messages give it. */
static int api_option_tables(lua_State *L)
{
    lua_newtable(L);
    for (size_t r = 0; r < sizeof roots / sizeof *roots; r++)
        add_tables(L, lua_gettop(L), roots[r].what, roots[r].keys);
    return 1;
}

/* ---------------------------------------------------------------------------
 * The pages as text
 * ------------------------------------------------------------------------- */

enum { FIELD = 160 };

/* A row's four columns. */
static void row_text(const lgd_key *k, const char **col, char (*buf)[FIELD])
{
    col[0] = k->name;
    col[1] = lgd_key_type(k, buf[0], FIELD);
    col[2] = lgd_key_default(k, buf[1], FIELD);
    col[3] = k->doc;
}

static void add_section(lua_State *L, luaL_Buffer *b, const section *s, const char *prefix)
{
    int w[3] = { 4, 4, 7 };
    const char *col[4];
    char buf[2][FIELD], line[640];
    for (int i = 0; s->keys[i].name; i++) {
        row_text(&s->keys[i], col, buf);
        for (int c = 0; c < 3; c++)
            w[c] = (int)strlen(col[c]) > w[c] ? (int)strlen(col[c]) : w[c];
    }
    luaL_addchar(b, '\n');
    luaL_addstring(b, s->title);
    luaL_addchar(b, '\n');
    snprintf(line, sizeof line, "  %-*s  %-*s  %-*s  %s\n", w[0], "name", w[1], "type", w[2],
             s->options ? "default" : "when", "meaning");
    luaL_addstring(b, line);
    for (int i = 0; s->keys[i].name; i++) {
        row_text(&s->keys[i], col, buf);
        snprintf(line, sizeof line, "  %-*s  %-*s  %-*s  %s", w[0], col[0], w[1], col[1], w[2],
                 col[2], col[3]);
        /* no trailing blanks when a column is empty */
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = 0;
        luaL_addstring(b, line);
        luaL_addchar(b, '\n');
    }
    /* the tables an option takes: "checkpoint = { ... }", "monitor.probes = { ... }" */
    for (int i = 0; s->options && s->keys[i].name; i++)
        if (s->keys[i].sub) {   /* C strings: nothing may sit above the buffer */
            char title[128], deeper[128];
            snprintf(title, sizeof title, "%s%s = { ... }", prefix, s->keys[i].name);
            snprintf(deeper, sizeof deeper, "%s%s.", prefix, s->keys[i].name);
            add_section(L, b, &(section){ title, s->keys[i].sub, 2 }, deeper);
        }
}

int lgd_doc_page(lua_State *L, const char *name)
{
    const page *p = find_page(name);
    if (!p)
        return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s\n  %s\n", p->usage, p->about);
    luaL_addvalue(&b);
    for (int s = 0; s < MAX_SECTIONS && p->sec[s].keys; s++)
        add_section(L, &b, &p->sec[s], "");
    if (page_options(p, (const lgd_key *[4]){ 0 }))
        luaL_addstring(&b, "\nan unknown or misspelled option is an error, never ignored\n");
    luaL_pushresult(&b);
    return 1;
}

/* gd.doc(name) -> the page as text. */
static int api_doc(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    if (!lgd_doc_page(L, name))
        return luaL_argerror(L, 1, lua_pushfstring(L, "no page '%s' (pages: %s; for a "
                                                   "component: gradus doc NAME)", name,
                                                   lgd_doc_pages()));
    return 1;
}

void lgd_open_api(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "doc", api_doc },
        { "_options", api_options },
        { "_keys", api_keys },
        { "_option_tables", api_option_tables },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}

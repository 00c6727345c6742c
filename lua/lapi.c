/*
 * lua/lapi.c: the Lua API's option tables, the check that refuses keys
 * they do not hold, and the pages `gradus doc NAME` and gd.doc(NAME) print
 * from them (lapi.h).
 *
 * A page is sections of keys. The sections marked `options` are what the
 * call accepts: the C calls (gd.train, the data sets) check against them
 * directly, the Lua-written ones (gd.compare, gd.report, gd.resume, gd.fork)
 * through gd._check_keys / gd._keys. The other sections describe tables
 * gradus returns (run, run.history, gd.compare's results); a test compares
 * them with real ones.
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

const lgd_key lgd_train_keys[] = {
    { "model", "sequential | residual | model", "required",
      "the network (gradus doc model): a spec is built with `seed`; a model trains on" },
    { "data", "data set", "required", "the training set (gradus doc data)" },
    { "loss", "loss spec", "required", "e.g. gd.loss.cross_entropy{}" },
    { "optimizer", "optimizer spec", "required", "e.g. gd.optim.adam{ lr = 1e-3 }" },
    { "schedule", "scheduler spec", "(constant)", "scales the optimizer's lr over the run" },
    { "regularizers", "list of regularizer specs", "{}", "e.g. { gd.reg.l2{ lambda = 1e-4 } }" },
    { "clip", "table", "(none)",
      "{ norm = c } or { value = c }: clip gradients by global L2 norm or elementwise" },
    { "validation", "data set", "(none)", "evaluated after every epoch (val_loss, val_accuracy)" },
    { "epochs", "integer >= 1", "1", "passes over the training set" },
    { "batch", "integer >= 1 | \"full\"", "32", "samples per update; \"full\": batch GD" },
    { "drop_last", "boolean", "false",
      "drop each epoch's last, partial batch (batch norm refuses a batch of one)" },
    { "seed", "integer >= 0", "1", "initial weights, batch order and dropout masks" },
    { "monitor", "table", "(off)",
      "{ every = n (100), probes = {...} }: per-layer telemetry every n steps into "
      "run.history.steps; probes (sharpness, trace, noise_scale, distance, alpha) into "
      "run.history.probes (gradus doc probe)" },
    { "early_stopping", "table", "(off)",
      "{ patience = 3, min_delta = 0, restore_best = false }: on val_loss; needs validation" },
    { "diverge", "table | false", "{ factor = 1e3 }",
      "\"diverged\" (loss exploded) when a step's loss exceeds factor x the first step's" },
    { "checkpoint", "table | false", "(none)",
      "{ path =, every = n | { epochs = n } (1 epoch), keep = 1 }: the run, for gd.resume" },
    { "on_epoch", "function", "(none)",
      "called after every epoch with its history record; returning false stops the run" },
    { "on_step", "function", "(none)",
      "called after every step with { step, epoch, loss, lr } (slows training)" },
    { "progress", "boolean", "true", "a progress bar or line per epoch on stderr" },
    { "name", "string", "(none)", "the run's name, kept in its checkpoints" },
    { "quiet_diagnoses", "boolean", "false",
      "do not print the diagnoses (they are still in run.diagnoses)" },
    { "distributed", "boolean", "(under mpirun: true)",
      "data-parallel over the MPI ranks; batch is all ranks' together (README: MPI)" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_diverge_keys[] = {
    { "factor", "number > 1", "1e3", "the loss that ends the run, as a multiple of the first" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key run_keys[] = {
    { "status", "string", "", "\"ok\", \"diverged\" or \"failed\"" },
    { "model", "model", "", "the trained model" },
    { "steps", "integer", "", "updates done (a resumed run counts from its start)" },
    { "epochs", "integer", "", "epochs done" },
    { "steps_per_epoch", "integer", "", "updates per epoch" },
    { "seconds", "number", "", "wall time of this call" },
    { "history", "table", "", "per epoch and per monitored step (gradus doc history)" },
    { "diagnoses", "list", "", "{ kind =, message = }: what the history suggests" },
    { "diverged", "table", "(ok runs: nil)",
      "{ step, epoch, layer, what, reason }; reason \"not finite\" or \"loss exploded\"" },
    { "error", "string", "(ok runs: nil)", "why a \"failed\" run failed" },
    { "checkpoint", "string", "(nil)", "the last checkpoint this run wrote" },
    { "resumed_from", "table", "(nil)", "{ path, step, epoch, fork }: where a resumed run began" },
    { "stopped_early", "boolean", "(nil)", "early stopping ended the run (with early_stopping)" },
    { "best_epoch", "integer", "(nil)", "the epoch of the best val_loss (with early_stopping)" },
    { "restored_best", "boolean", "(nil)", "the model holds best_epoch's weights" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key compare_keys[] = {
    { "base", "table of gd.train options", "required", "what every variant shares" },
    { "variants", "list of tables | gd.fork(...)", "required",
      "each: gd.train options over base, plus name = and tune = { lr = { ... } }" },
    { "repeats", "integer >= 1", "1", "seeds per variant: base.seed, base.seed + 1, ..." },
    { "progress", "boolean", "true", "a line per run on stderr" },
    { "run", "{ backend =, jobs =, dir =, name =, ... }", "(serial)",
      "a sweep: each trial written down as data (DIR/NAME/TRIAL/trial.json) and run by "
      "`gradus trial` workers, never by re-running the script; backend \"local\" or "
      "\"slurm\" (README: Sweeps)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key variant_keys[] = {
    { "name", "string", "\"variantN\"", "the row's name in the report" },
    { "tune", "{ lr = list, seeds =, metric =, validation = }", "(none)",
      "try each lr first with tuning seeds of its own; the best is used for the repeats" },
    { "(any gd.train option)", "", "base's", "overrides base for this variant" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key tune_keys[] = {
    { "lr", "list of numbers > 0", "required", "the grid, e.g. gd.logspace(1e-5, 1e2, 13)" },
    { "seeds", "integer >= 1 | list of integers", "1",
      "tuning seeds: n after the repeats' seeds, or a list; never a seed of the repeats" },
    { "metric", "\"val_loss\" | \"val_accuracy\" | \"train_loss\"", "val_loss",
      "what picks the lr (val_accuracy: highest wins); the report plots it against lr and "
      "warns when the best lr lies at the edge of the grid" },
    { "validation", "data set", "base's validation",
      "the set tuning is judged on (gradus benchmark: a validation split; the repeats: test)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key benchmark_keys[] = {
    { "optimizers", "list of strings", "required",
      "names, \"name{key=value,...}\" (read as data) or .so paths; sgd, momentum and adam "
      "are always added as baselines" },
    { "problems", "list of strings", "all shipped",
      "quadratic_deep, fmnist_logreg, fmnist_mlp, fmnist_2c2d, fmnist_resnet, kjv_char, or "
      ".lua paths" },
    { "size", "\"smoke\" | \"small\" | \"full\"", "\"small\"",
      "smoke: a few hundred samples, 1 epoch, 3 lrs, 2 seeds; small: 13 lrs 1e-5..1e2, 3 seeds; "
      "full: DeepOBS's 36 lrs, 10 seeds, full data" },
    { "seeds", "integer >= 1", "by size", "evaluation seeds 1..n (tuning uses seed 1001)" },
    { "grid", "{ lo =, hi =, n = }", "by size", "the log grid of lrs" },
    { "out", "string", "required (CLI: benchmark-out)",
      "the report directory: index.html, results.json, leaderboard.csv, problems/NAME/, "
      "cells/ (finished cells, reused when their key matches)" },
    { "run", "{ backend =, jobs =, ... }", "(in this process)",
      "the trials as processes: gd.compare's run options but dir and name (the sweeps go to "
      "OUT/sweeps/PROBLEM.OPTIMIZER); a problem of yours whose data has no recipe "
      "(gd.data.tensor) runs in this process" },
    { "progress", "boolean", "true", "a line per cell on stderr" },
    { "plots", "boolean", "true", "draw the plots (needs gnuplot)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key problem_keys[] = {
    { "name", "string", "required", "the problem's name in the report" },
    { "model", "model spec | function(size)", "required",
      "gd.sequential{ ... }, or a function returning one for \"smoke\", \"small\" or \"full\"" },
    { "data", "function(size)", "required", "returns train, validation, test for \"smoke\", "
      "\"small\" or \"full\"" },
    { "loss", "loss spec", "required", "" },
    { "batch", "integer", "required", "" },
    { "epochs", "{ smoke =, small =, full = }", "required", "" },
    { "metric", "\"accuracy\" | \"loss\" | \"bpc\"", "required",
      "the test metric reported (bpc: bits per character, the loss / ln 2)" },
    { "target", "number", "required",
      "the test metric to reach (>= for accuracy, <= for loss and bpc): the speed measure's "
      "target" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key report_keys[] = {
    { "dir", "string", "(none)",
      "write summary.csv, history.csv, results.json, plots and index.html there (made if missing)" },
    { "plots", "boolean", "true", "draw the plots (needs gnuplot)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key plot_keys[] = {
    { "series", "list of tables", "required", "the curves, each { x =, y =, label =, style = }" },
    { "file", "string", "required", "the output, ending in .png or .svg (its directory is made)" },
    { "title", "string", "(none)", "above the plot" },
    { "xlabel", "string", "(none)", "the x axis's label" },
    { "ylabel", "string", "(none)", "the y axis's label" },
    { "logx", "boolean", "false", "a log x axis" },
    { "logy", "boolean", "false", "a log y axis (points with y <= 0 are left out)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key plot_series_keys[] = {
    { "y", "list of numbers", "required", "the values (a bare list is y alone)" },
    { "x", "list of numbers", "1, 2, ...", "where they are" },
    { "label", "string", "\"series i\"", "in the key" },
    { "style", "string", "\"lines\"",
      "lines, points, linespoints, steps, fsteps, histeps, impulses or dots" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key resume_keys[] = {
    { "epochs", "integer >= 1", "the run's", "a new total of epochs" },
    { "data", "data set", "(rebuilt)", "the run's data, when it cannot be rebuilt" },
    { "validation", "data set", "(rebuilt)", "the run's validation set, likewise" },
    { "on_epoch", "function", "(none)", "as in gd.train" },
    { "on_step", "function", "(none)", "as in gd.train" },
    { "progress", "boolean", "true", "as in gd.train" },
    { "checkpoint", "table | false", "the run's", "where to write checkpoints from here" },
    { "name", "string", "the run's", "as in gd.train" },
    { "quiet_diagnoses", "boolean", "false", "as in gd.train" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key fork_keys[] = {
    { "optimizer", "optimizer spec", "the run's", "another optimizer (a new one starts afresh)" },
    { "lr", "number", "the run's", "the run's optimizer with this lr (keeps its state)" },
    { "schedule", "scheduler spec", "the run's", "as in gd.train" },
    { "clip", "table", "the run's", "as in gd.train" },
    { "regularizers", "list", "the run's", "as in gd.train" },
    { "seed", "integer >= 0", "the run's", "another batch order and dropout masks from here" },
    { "monitor", "{ every = n }", "the run's", "as in gd.train" },
    { "early_stopping", "table", "the run's", "as in gd.train" },
    { "diverge", "{ factor = f } | false", "the run's", "as in gd.train" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_fashion_mnist_keys[] = {
    { "split", "\"train\" | \"test\"", "\"train\"", "60000 or 10000 images of 28 x 28" },
    { "limit", "integer >= 0", "0 (all)", "the first limit samples only" },
    { "dir", "string", "$GRADUS_DATA, else the installed set", "where the IDX files are" },
    { "shape", "{ n } | { T, d } | { C, H, W }", "{ 784 }",
      "each sample's shape, e.g. { 1, 28, 28 } for conv2d (784 elements)" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_text_keys[] = {
    { "path", "string", "the King James Bible",
      "a UTF-8 text (without: Debian's bible-kjv, cached in $GRADUS_CACHE or ~/.cache/gradus)" },
    { "context", "integer >= 1", "128", "T: characters per sample (x = T ids, y = the next T)" },
    { "split", "\"train\" | \"val\" | \"test\"", "\"train\"",
      "the first 90 %, the next 5 %, the last 5 % of the text" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_csv_keys[] = {
    { "path", "string", "required", "a CSV file of numbers, one sample a row" },
    { "target", "column name | column number", "the last column", "the target column" },
    { "header", "boolean", "true",
      "the first row names the columns, each once (a UTF-8 byte order mark before it is dropped)" },
    { "classes", "boolean", "false",
      "the target holds class labels, kept (ds:classes()), else regression values" },
    { "shape", "{ n } | { T, d } | { C, H, W }", "{ columns - 1 }",
      "each sample's shape, as many elements as feature columns" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_tensor_data_keys[] = {
    { "x", "tensor [N, ...] | nested table", "required", "the samples" },
    { "y", "tensor | table", "required",
      "class numbers 1..K (Lua integers, or with classes), else regression targets" },
    { "classes", "integer >= 0", "0 (from y)", "the number of classes K" },
    { "name", "string", "\"tensor\"", "shown by tostring(ds)" },
    { "shape", "{ n } | { T, d } | { C, H, W }", "x's shape after the first dimension",
      "each sample's shape, as many elements" },
    { NULL, NULL, NULL, NULL },
};

const lgd_key lgd_split_keys[] = {
    { "validation", "integer | fraction in (0, 1)", "required", "samples held out" },
    { "seed", "integer >= 0", "1", "which samples" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key dataset_methods[] = {
    { "ds:size(), #ds", "integer", "", "samples" },
    { "ds:features()", "integer", "", "features per sample" },
    { "ds:classes()", "integer [, labels]", "",
      "classes (0: regression); a CSV set's labels as written, in class order" },
    { "ds:split{...}", "two data sets", "", "train, validation (its options above)" },
    { "ds:subset(n)", "data set", "", "the first n samples" },
    { "ds:standardize([of])", "data set", "", "zero mean, unit variance (of's statistics)" },
    { "ds:get(i)", "x, y", "", "sample i" },
    { "ds:tensors()", "x, y", "", "all samples as tensors" },
    { "ds:recipe()", "table", "", "how to rebuild it (gd.data.rebuild)" },
    { "ds:vocab()", "list of strings", "", "a text set's characters, id i at [i]" },
    { "ds:encode(text)", "tensor", "", "a text set's ids (1-based) of a string" },
    { "ds:decode(ids)", "string", "", "the text of 1-based ids (a tensor or a table)" },
    { "gd.data.synthetic.*", "data set", "", "small generated sets (below)" },
    { NULL, NULL, NULL, NULL },
};

/* The synthetic generators' options, in this order, with these meanings;
 * which ones each takes and their defaults come from the generator. */
static const lgd_key synthetic_docs[] = {
    { "n", "", "", "samples" },
    { "classes", "", "", "classes (labels 1..classes)" },
    { "features", "", "", "features per sample" },
    { "noise", "", "", "standard deviation of the noise added" },
    { "spread", "", "", "standard deviation of each blob" },
    { "problem", "", "",
      "quadratic_deep: the seed of Q (inputs: its A = sqrt(50) D^1/2 R, [100, 100, 1]; targets "
      "A x; gradus doc benchmark)" },
    { "seed", "", "", "the draw: the same seed, the same set" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key epoch_keys[] = {
    { "epoch", "integer", "", "from 1" },
    { "train_loss", "number", "", "mean loss over the epoch's steps, penalty included" },
    { "data_loss", "number", "(unknown: nil)",
      "train_loss without the regularizers' penalty (what the diagnoses read)" },
    { "penalty", "number", "(unknown: nil)",
      "the regularizers' share of train_loss (0 without any; nil in a regularized run's "
      "epochs up to a resume from a checkpoint older than format version 4)" },
    { "val_loss", "number", "(no validation: nil)", "on the validation set after the epoch" },
    { "val_accuracy", "number", "(nil)", "classification only" },
    { "lr", "number", "", "the lr of the epoch's last step" },
    { "seconds", "number", "", "the epoch's wall time, validation included" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key step_keys[] = {
    { "step", "integer", "", "update index, from 0" },
    { "epoch", "integer", "", "from 1" },
    { "loss", "number", "", "the batch's loss + penalty" },
    { "penalty", "number", "", "the regularizers' share" },
    { "lr", "number", "", "this update's lr" },
    { "grad_norm", "number", "", "global gradient L2 norm, before clipping" },
    { "clipped", "boolean", "", "clipping changed the gradients" },
    { "effective_lr", "number", "(nil)",
      "adaptive optimizers: their mean step scale; tensor-aware ones: |update| / |gradient|" },
    { "layers", "list", "", "one record per layer (below)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key layer_keys[] = {
    { "name", "string", "", "the layer's name (dense1, relu2, ...)" },
    { "grad_norm", "number", "(no parameters: nil)", "L2 norm of its gradients" },
    { "param_norm", "number", "(nil)", "L2 norm of its parameters" },
    { "update_ratio", "number", "(nil)", "||delta W|| / ||W|| of this update" },
    { "act_mean", "number", "", "mean of its output" },
    { "act_std", "number", "", "standard deviation of its output" },
    { "saturated", "number", "(nil)", "sigmoid/tanh: fraction of saturated units" },
    { "dead", "number", "(nil)", "relu: fraction of units zero for the whole batch" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key results_keys[] = {
    { "variants", "list", "", "per variant: name, runs, config, lr, tuning, fork" },
    { "summary", "list", "", "per variant: statistics of the final metrics" },
    { "repeats", "integer", "", "runs per variant" },
    { "seeds", "list", "", "the seeds used" },
    { "base", "table", "", "gd.compare's base" },
    { "collected", "string", "(nil)", "gradus collect: the sweep directory read" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key results_run_keys[] = {
    { "seed", "integer", "", "" },
    { "status", "string", "", "as run.status" },
    { "metrics", "table", "", "final train_loss, val_loss, val_accuracy, seconds" },
    { "history", "table", "", "as run.history" },
    { "diverged", "table", "(nil)", "as run.diverged" },
    { "diagnoses", "list", "", "as run.diagnoses" },
    { "steps", "integer", "", "" },
    { "steps_per_epoch", "integer", "", "as run.steps_per_epoch" },
    { "seconds", "number", "", "" },
    { "resumed_from", "table", "(nil)", "forks: where they began" },
    { "missing", "string", "(nil)", "gradus collect: why the trial has no result (status \"missing\")" },
    { "error", "string", "(nil)", "status \"failed\": why (as run.error)" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key residual_keys[] = {
    { "[1], [2], ...", "layer spec | gd.sequential | gd.residual", "required",
      "the body, in order: y = body(x) + x, so it must keep the shape" },
    { "shortcut", "layer spec | gd.sequential | gd.residual", "(identity)",
      "y = body(x) + shortcut(x) instead: for a body that changes the shape" },
    { NULL },
};

static const lgd_key build_keys[] = {
    { "inputs", "integer | shape", "required", "per-sample input: n features, or { C, H, W }" },
    { "seed", "integer", "1", "initial weights (the same seed: the same weights)" },
    { NULL },
};

static const lgd_key model_methods[] = {
    { "forward(x [, { training = }])", "tensor", "", "outputs for x [batch, input...]" },
    { "backward(dy)", "tensor", "",
      "after a training forward: adds the parameter gradients, returns dL/dx" },
    { "params()", "list", "",
      "{ name = \"res1.dense2.weight\", layer =, role =, value =, grad = }: live views, depth "
      "first (a block's body, then its shortcut)" },
    { "buffers()", "list", "", "non-trained state: batch norm's running statistics" },
    { "summary()", "table", "", "a row per layer and block: name (its path), kind, input, output, "
      "params, depth; prints as a table" },
    { "predict(x)", "list", "", "class numbers (1-based)" },
    { "evaluate(ds)", "table", "", "{ loss =, accuracy = }" },
    { "save(path)", "", "", "a model file; gd.load_model(path) reads it back" },
    { "flat_params()", "tensor [n]", "", "every parameter as one live view, params() order" },
    { "flat_grads()", "tensor [n]", "", "every gradient likewise" },
    { "zero_grad(), reset(seed)", "", "", "gradients to 0; the initial weights of `seed` again" },
    { NULL },
};

static const lgd_key summary_keys[] = {
    { "name", "string", "", "the variant" },
    { "n", "integer", "", "runs that finished (status ok)" },
    { "diverged", "integer", "", "runs that diverged" },
    { "missing", "integer", "", "runs that failed or whose trial has no result: neither "
      "diverged nor counted in the win rate" },
    { "mean", "table", "", "per metric (train_loss, val_loss, val_accuracy, seconds)" },
    { "std", "table", "", "per metric" },
    { "ci95", "table", "", "per metric: half-width of the 95% CI (Student's t)" },
    { "diff", "table", "", "per metric: mean difference to variant 1, paired by seed" },
    { "diff_ci95", "table", "", "per metric" },
    { "win_rate", "number", "(variant 1: nil)", "fraction of seeds that beat variant 1 (pairs "
      "with a failed or missing run left out)" },
    { "lr", "number", "(nil)", "the tuned lr" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key probe_methods[] = {
    { "p:loss()", "number", "", "mean data loss over the probe set" },
    { "p:grad()", "tensor [n], number", "", "mean gradient (params order) and the loss" },
    { "p:hvp(v)", "tensor [n]", "", "H·v by differences of gradients (step 1e-3·|w|/|v|)" },
    { "p:eigen{...}", "table", "",
      "{ values, vectors, residuals, residual, iters }: top-k by Lanczos, largest first" },
    { "p:trace{...}", "table", "", "{ trace, se, probes, method }" },
    { "p:noise_scale{...}", "table", "",
      "{ b_simple = tr_sigma / grad_sq, tr_sigma, grad_sq, exact, small, big, repeats }" },
    { "p:slice{...}", "table", "", "{ alphas, loss, direction }: L(w + α·d)" },
    { "p:surface{...}", "table", "", "{ alphas, betas, loss[i][j], directions }: L(w + α·d1 + β·d2)" },
    { "p:samples()", "integer", "", "the probe set's size" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key probe_record_keys[] = {
    { "step", "integer", "", "updates done when measured" },
    { "lr", "number", "", "the lr of the update that follows" },
    { "sharpness", "number", "(not due: nil)", "top Hessian eigenvalue (Lanczos, warm-started)" },
    { "sharpness_iters", "integer", "(nil)", "Lanczos iterations it took" },
    { "sharpness_residual", "number", "(nil)", "its residual estimate" },
    { "trace", "number", "(nil)", "Hutchinson's tr(H)" },
    { "trace_se", "number", "(nil)", "its standard error" },
    { "noise_scale", "number", "(nil)", "B_simple = tr(Σ)/|G|²" },
    { "noise_tr_sigma", "number", "(nil)", "tr(Σ), per-example covariance" },
    { "noise_grad_sq", "number", "(nil)", "|G|²" },
    { "distance", "number", "(nil)", "‖w − w_start‖" },
    { "distance_layers", "table", "(nil)", "layer name -> its share" },
    { "alpha", "number", "(nil)", "of the update from this step (Cockpit's α)" },
    { "alpha_loss_before", "number", "(nil)", "its batch's loss before the update" },
    { "alpha_loss_after", "number", "(nil)", "and after" },
    { NULL, NULL, NULL, NULL },
};

static const lgd_key tensor_methods[] = {
    { "gd.tensor(t [, shape])", "tensor", "", "a copy of a table ({ shape =, ... }, nested, flat) or tensor" },
    { "gd.tensor.zeros(shape)", "tensor", "", "zeros; shape a table or the dimensions" },
    { "gd.tensor.full(shape, v)", "tensor", "", "every element v" },
    { "x[i], x[i] = v, #x", "number", "", "element i of the flat row-major data (1-based)" },
    { "x:shape(), x:numel()", "table, integer", "", "" },
    { "x:totable()", "table", "", "the elements, flat" },
    { "x:clone(), x:copy()", "tensor", "", "a new tensor with the same elements" },
    { "x:copy(src)", "x", "", "overwrite x with src's elements (writes through views)" },
    { "x:fill(v)", "x", "", "every element v" },
    { "x:reshape(shape)", "tensor", "", "a view with another shape" },
    { "x:slice(i, j)", "tensor", "", "a live 1-D view of elements i..j" },
    { "x:row(i)", "tensor", "", "a live view of x[i] (the first dimension dropped)" },
    { "x:dot(y)", "number", "", "Σ x·y over the elements (double sum)" },
    { "y:axpy(a, x)", "y", "", "y += a·x in place" },
    { "x:scale(a)", "x", "", "x *= a in place" },
    { "x:norm(), x:sum()", "number", "", "L2 norm, sum (double)" },
    { NULL, NULL, NULL, NULL },
};


/* ---------------------------------------------------------------------------
 * Pages
 * ------------------------------------------------------------------------- */

enum { MAX_SECTIONS = 8 };

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
    void (*more)(lua_State *L, luaL_Buffer *b);   /* sections made at print time */
} page;

static void add_synthetic(lua_State *L, luaL_Buffer *b);

static const page pages[] = {
    { "train", "local run = gd.train{ model = ..., data = ..., loss = ..., optimizer = ... }",
      "train a model in C, epoch by epoch; divergence is a result, not an error",
      { { "options", lgd_train_keys, 1 }, { "diverge = { ... }", lgd_diverge_keys, 2 },
        { "the run it returns", run_keys, 0 } }, NULL },
    { "compare", "local results = gd.compare{ base = { ... }, variants = { ... }, repeats = n }",
      "variants x seeds with common random numbers (the same seed: the same start and batches)",
      { { "options", compare_keys, 1 }, { "a variant", variant_keys, 2 },
        { "a variant's tune = { ... }", tune_keys, 2 },
        { "it returns (gradus doc results)", results_keys, 0 } }, NULL },
    { "benchmark", "gradus benchmark [--problems LIST] [--size smoke|small|full] [--seeds N] "
      "[--grid LO:HI:N] [--backend local|slurm] [--jobs N] [--out DIR] OPTIMIZER...   or   gd.benchmark{ optimizers = { ... } }",
      "each optimizer and the baselines sgd, momentum and adam on each problem by the DeepOBS "
      "protocol (lr tuned on a log grid against the validation metric with tuning seeds of its "
      "own, the best lr rerun with fresh seeds on the test set); reports performance (test "
      "metric, mean +- 95% CI), speed (epoch and seconds to the target), the metric against lr, "
      "and AlgoPerf's performance profiles and score (integral of rho over tau in [1, 4] / 3; a "
      "miss or more than 4x the fastest counts as not reached); gradus report DIR rebuilds the "
      "page. --backend slurm or --jobs > 1 run the trials as processes (the sweep machinery)",
      { { "options of gd.benchmark", benchmark_keys, 1 }, { "a problem file returns", problem_keys, 2 } },
      NULL },
    { "report", "gd.report(results, { dir = \"out/x\" })",
      "the comparison table and diagnoses on stdout; with dir, the data files, plots and a page, "
      "index.html (gradus report DIR [DIR...] rebuilds it from results.json, merging several)",
      { { "options", report_keys, 1 } }, NULL },
    { "plot", "gd.plot{ series = { { x = {...}, y = {...}, label = \"a\" } }, file = \"out/a.png\" }",
      "a script's own curves, drawn by gnuplot (names reach it only as quoted text)",
      { { "options", plot_keys, 1 }, { "a series", plot_series_keys, 2 } }, NULL },
    { "resume", "local run = gd.resume(\"out/run.ckpt\", { epochs = n })",
      "continue a checkpoint's run exactly; only what does not change its numbers may be given "
      "(gradus resume FILE [EPOCHS] from the shell)",
      { { "options", resume_keys, 1 } }, NULL },
    { "fork", "local v = gd.fork(\"out/run.ckpt\", { optimizer = gd.optim.adam{} })",
      "a what-if from a checkpoint's state: a variant for gd.compare, or run it with gd.train(v)",
      { { "options", fork_keys, 1 }, { "and those of gd.resume", resume_keys, 1 } }, NULL },
    { "model", "local net = gd.sequential{ gd.layer.dense{ units = 64 }, gd.residual{ "
      "gd.layer.dense{ units = 64 }, gd.layer.relu{} }, gd.layer.dense{ units = 10 } }",
      "model specs: gd.sequential and gd.residual nest to any depth; layers are named by path "
      "(dense1, res1.dense1, res1.shortcut) in summaries, telemetry, diagnoses, checkpoints and "
      "parameter groups ({ layer = \"res1.*\" }: a glob, or a block's path for all its layers)",
      { { "gd.residual{ ... }", residual_keys, 1 }, { "spec:build{ ... }", build_keys, 1 },
        { "a model", model_methods, 0 } }, NULL },
    { "data", "local train = gd.data.fashion_mnist{ split = \"train\", limit = 1000 }",
      "data sets: gd.data.fashion_mnist, gd.data.csv (gradus doc data.csv), gd.data.text (gradus "
      "doc data.text), gd.data.tensor, "
      "gd.data.synthetic.*",
      { { "gd.data.fashion_mnist{ ... }", lgd_fashion_mnist_keys, 1 },
        { "gd.data.tensor{ ... }", lgd_tensor_data_keys, 1 },
        { "ds:split{ ... }", lgd_split_keys, 1 },
        { "a data set", dataset_methods, 0 } }, add_synthetic },
    { "data.text", "local train = gd.data.text{ context = 128, split = \"train\" }",
      "a character-level language-modelling set: x = T character ids, y = the next T; an "
      "epoch is (characters - 1) / T windows, one per stretch of T characters, each starting "
      "at a random offset within its stretch (from the run's seed and the epoch); evaluation "
      "uses the windows at offsets 0, T, 2T, ...",
      { { "options", lgd_text_keys, 1 } }, NULL },
    { "data.csv", "local ds = gd.data.csv{ path = \"iris.csv\", target = \"species\", "
      "classes = true }", "a data set from a CSV file",
      { { "options", lgd_csv_keys, 1 } }, NULL },
    { "history", "run.history.epochs[e].val_loss, run.history.steps[i].layers[j].grad_norm",
      "what a run records: a record per epoch, and per monitored step (monitor = { every = n })",
      { { "history.epochs[e]", epoch_keys, 0 }, { "history.steps[i]", step_keys, 0 },
        { "history.steps[i].layers[j]", layer_keys, 0 },
        { "history.probes[i] (monitor.probes)", probe_record_keys, 0 } }, NULL },
    { "results", "results.summary[i].mean.val_loss, results.variants[i].runs[r].history",
      "what gd.compare returns (and gd.report writes to results.json)",
      { { "results", results_keys, 0 }, { "results.summary[i]", summary_keys, 0 },
        { "results.variants[i].runs[r]", results_run_keys, 0 } }, NULL },
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
          lgd_monitor_probe_keys, 2 } }, NULL },
    { "tensor", "local v = m:flat_params():copy(); v:axpy(-0.1, m:flat_grads())",
      "float32 tensors: views of a model's memory or owning their own; vector operations in C",
      { { "calls", tensor_methods, 0 } }, NULL },
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
 * The check
 * ------------------------------------------------------------------------- */

static void add_names(luaL_Buffer *b, const lgd_key *keys, int *n)
{
    for (int i = 0; keys[i].name; i++) {
        if ((*n)++)
            luaL_addstring(b, ", ");
        luaL_addstring(b, keys[i].name);
    }
}

static void check_keys(lua_State *L, int idx, const char *what, const lgd_key *const *lists,
                       int nlists)
{
    if (lua_isnoneornil(L, idx))
        return;
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        lgd_error(L, "%s: options must be a table, got %s", what, luaL_typename(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            lgd_error(L, "%s: options are named (name = value), got a %s key", what,
                      luaL_typename(L, -1));
        const char *k = lua_tostring(L, -1);
        gd_nearest near = gd_nearest_start(k, false);
        int found = 0;
        for (int l = 0; l < nlists && !found; l++)
            for (int i = 0; lists[l][i].name && !found; i++) {
                found = strcmp(k, lists[l][i].name) == 0;
                gd_nearest_offer(&near, lists[l][i].name);
            }
        const char *best = near.best;
        if (found)
            continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        int n = 0;
        for (int l = 0; l < nlists; l++)
            add_names(&b, lists[l], &n);
        luaL_pushresult(&b);
        if (best)
            lgd_error(L, "%s: unknown option '%s' (did you mean '%s'? options: %s)", what, k, best,
                      lua_tostring(L, -1));
        lgd_error(L, "%s: unknown option '%s' (options: %s)", what, k, lua_tostring(L, -1));
    }
}

void lgd_check_keys(lua_State *L, int idx, const char *what, const lgd_key *keys)
{
    check_keys(L, idx, what, &keys, 1);
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

static const page *check_page(lua_State *L, int arg)
{
    const char *name = luaL_checkstring(L, arg);
    const page *p = find_page(name);
    if (!p)
        luaL_argerror(L, arg, lua_pushfstring(L, "no page '%s' (pages: %s)", name,
                                              lgd_doc_pages()));
    return p;
}

/* gd._check_keys(page, opts, what): the Lua-written calls' check. */
static int api_check_keys(lua_State *L)
{
    const page *p = check_page(L, 1);
    const lgd_key *lists[MAX_SECTIONS];
    int n = page_options(p, lists);
    check_keys(L, 2, luaL_checkstring(L, 3), lists, n);
    return 0;
}

/* gd._keys(page) -> { name, ... }: the keys a page's call accepts. */
static int api_keys(lua_State *L)
{
    const page *p = check_page(L, 1);
    const lgd_key *lists[MAX_SECTIONS];
    int n = page_options(p, lists), k = 0;
    lua_newtable(L);
    for (int l = 0; l < n; l++)
        for (int i = 0; lists[l][i].name; i++) {
            lua_pushstring(L, lists[l][i].name);
            lua_rawseti(L, -2, ++k);
        }
    return 1;
}

/* ---------------------------------------------------------------------------
 * The pages as text
 * ------------------------------------------------------------------------- */

static int width_of(const lgd_key *keys, int field)
{
    int w = field == 0 ? 4 : field == 1 ? 4 : 7;
    for (int i = 0; keys[i].name; i++) {
        const char *s = field == 0 ? keys[i].name : field == 1 ? keys[i].type : keys[i].def;
        int n = (int)strlen(s);
        w = n > w ? n : w;
    }
    return w;
}

static void add_section(lua_State *L, luaL_Buffer *b, const section *s)
{
    int wn = width_of(s->keys, 0), wt = width_of(s->keys, 1), wd = width_of(s->keys, 2);
    lua_pushfstring(L, "\n%s\n", s->title);
    luaL_addvalue(b);
    char line[512];
    snprintf(line, sizeof line, "  %-*s  %-*s  %-*s  %s\n", wn, "name", wt, "type", wd,
             s->options ? "default" : "when", "meaning");
    luaL_addstring(b, line);
    for (int i = 0; s->keys[i].name; i++) {
        const lgd_key *k = &s->keys[i];
        snprintf(line, sizeof line, "  %-*s  %-*s  %-*s  %s", wn, k->name, wt, k->type, wd,
                 k->def, k->doc);
        /* no trailing blanks when a column is empty */
        size_t n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = 0;
        luaL_addstring(b, line);
        luaL_addchar(b, '\n');
    }
}

/* Each generator's section from the recipe of the set it makes with no
 * options: the recipe holds every option with its value, written from the
 * same list that reads them (lua/ldata.c), so it lists what the generator
 * takes and its defaults. The sets are small (300 samples at most):
 * quadratic_deep, whose samples hold 10,000 values, is built with n = 1
 * and its default n written in. */
static void add_synthetic(lua_State *L, luaL_Buffer *b)
{
    static const struct {
        const char *name;
        lua_CFunction make;
        int n;   /* 0: built with its defaults; else built with n = 1, n its default */
    } gens[] = { { "spirals", lgd_data_spirals, 0 }, { "blobs", lgd_data_blobs, 0 },
                 { "xor", lgd_data_xor, 0 }, { "regression", lgd_data_regression, 0 },
                 { "quadratic_deep", lgd_data_quadratic_deep, 1000 } };
    for (size_t g = 0; g < sizeof gens / sizeof *gens; g++) {
        enum { MAX_ROWS = 8 };
        lgd_key rows[MAX_ROWS + 1] = { { 0 } };
        char defs[MAX_ROWS][32], title[64];
        int n = 0;
        lua_pushcfunction(L, gens[g].make);
        lua_newtable(L);
        if (gens[g].n) {
            lua_pushinteger(L, 1);
            lua_setfield(L, -2, "n");
        }
        lua_call(L, 1, 1);
        if (!lgd_dataset_push_recipe(L, -1))
            lua_newtable(L);
        for (int i = 0; synthetic_docs[i].name && n < MAX_ROWS; i++) {
            int t = lua_getfield(L, -1, synthetic_docs[i].name);
            if (t == LUA_TNUMBER) {
                rows[n] = synthetic_docs[i];
                rows[n].type = lua_isinteger(L, -1) ? "integer" : "number";
                if (gens[g].n && !strcmp(synthetic_docs[i].name, "n"))
                    snprintf(defs[n], sizeof defs[n], "%d", gens[g].n);
                else if (lua_isinteger(L, -1))
                    snprintf(defs[n], sizeof defs[n], "%lld", (long long)lua_tointeger(L, -1));
                else
                    snprintf(defs[n], sizeof defs[n], "%g", lua_tonumber(L, -1));
                rows[n].def = defs[n];
                n++;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
        snprintf(title, sizeof title, "gd.data.synthetic.%s{ ... }", gens[g].name);
        add_section(L, b, &(section){ title, rows, 2 });
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
        add_section(L, &b, &p->sec[s]);
    if (p->more)
        p->more(L, &b);
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
        { "_check_keys", api_check_keys },
        { "_keys", api_keys },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}

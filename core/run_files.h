/*
 * core/run_files.h: whether the checkpoint at a run's path may be written
 * over (run.h's gd_run_claim calls it, with the path locked): a checkpoint
 * already there must be of this run, so that a run never replaces another
 * run's file, nor a finished run's with a shorter or restarted one.
 */
#ifndef GRADUS_CORE_RUN_FILES_H
#define GRADUS_CORE_RUN_FILES_H

#include "run.h"

/* GD_OK when nothing is at cfg->settings.ckpt_path, or a checkpoint of
 * this run is (the same specs, clip, batch, seed and data; a resume, or
 * the same program run again; another number of epochs only when the run
 * there has not finished or resuming). Else GD_EINVAL and "checkpoint:
 * <path> holds another run (the optimizer differs); ..." and the like,
 * the messages gd.train shows after its "gd.train: ". cfg->settings must
 * hold the data's identity (gd_run_new records it). reg reads the file;
 * NULL: a file at the path is refused. */
gd_status gd_run_check_checkpoint(const gd_registry *reg, const gd_run_config *cfg,
                                  bool resuming, gd_error *err);

#endif

#!/usr/bin/env bash
# GRPO with verl 0.9 on prgym episodes served by `prgym serve` (needs GPUs and a model; see README
# "Remote rollouts and RL frameworks"). Data: python -c 'from harness.integrations.verl_data import ...'
# or the snippet in the README writes train.parquet / val.parquet with agent_name=prgym_agent.
set -euo pipefail
: "${PRGYM_ENV_URL:?set PRGYM_ENV_URL to a prgym serve URL}"
: "${PRGYM_SERVER_TOKEN:?set PRGYM_SERVER_TOKEN}"
MODEL=${MODEL:-Qwen/Qwen3-8B}
python -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  data.train_files=data/prgym/train.parquet \
  data.val_files=data/prgym/val.parquet \
  data.return_raw_chat=True \
  data.max_prompt_length=8192 \
  data.max_response_length=32768 \
  actor_rollout_ref.model.path="$MODEL" \
  actor_rollout_ref.rollout.name=vllm \
  actor_rollout_ref.rollout.mode=async \
  actor_rollout_ref.rollout.n=8 \
  actor_rollout_ref.rollout.agent.agent_loop_config_path=examples/verl/agent_loop.yaml \
  actor_rollout_ref.rollout.agent.default_agent_loop=prgym_agent \
  actor_rollout_ref.rollout.multi_turn.enable=True \
  actor_rollout_ref.rollout.multi_turn.format=hermes \
  actor_rollout_ref.rollout.multi_turn.max_assistant_turns=40 \
  actor_rollout_ref.rollout.multi_turn.max_parallel_calls=16 \
  actor_rollout_ref.rollout.multi_turn.max_tool_response_length=8000 \
  trainer.project_name=prgym trainer.experiment_name=grpo-prgym "$@"

"""Fine-tuning strategies (LoRA, full, prompt tuning, encoder + head) and their shared loop."""

"""finehub.finetune."""

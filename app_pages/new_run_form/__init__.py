"""The parts of the New run page (app_pages/new_run.py) that every task shares: the compose form's generic sections and
the pre-flight panel. Each task's own fields come from app_pages/task_forms/."""

"""`python -m local` (make dev): run the stack of template.yaml locally."""

from local.stack import main

main()

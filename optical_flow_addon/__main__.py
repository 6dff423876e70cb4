from .cli.command import main
from .cli.shared import exit_now

exit_now(main())

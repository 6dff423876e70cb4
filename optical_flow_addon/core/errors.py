"""The one exception type a user sees."""


class FlowError(Exception):
    """A problem the user can fix (bad input file, unwritable folder, wrong setting).

    The message is shown as it is in Blender's status bar and on the command line,
    so it names the file, line or setting and says what was expected.
    """

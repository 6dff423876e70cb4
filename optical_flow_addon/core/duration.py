"""How long something took, in the words a person reads: one function for the panel and the command line."""


def duration(seconds: float) -> str:
    """Artist-friendly duration: 4.2 s, 3 min 5 s, 1 h 2 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"

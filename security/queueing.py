"""Queue an actor's message by its name: the process that asks (a web process, a command) never
imports the worker's tasks module, and so never the dependencies of the work itself."""

import dramatiq
from dramatiq import Message


def send_by_name(
    actor_name: str,
    queue_name: str = "default",
    args: tuple = (),
    delay_ms: int | None = None,
    max_age_ms: int | None = None,
) -> None:
    """max_age_ms: a worker that takes the message later than this drops it unrun (dramatiq's
    AgeLimit middleware)."""
    broker = dramatiq.get_broker()
    broker.declare_queue(queue_name)  # a set lookup once declared
    options = {} if max_age_ms is None else {"max_age": max_age_ms}
    message: Message[None] = Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options=options
    )
    broker.enqueue(message, delay=delay_ms)

"""Queue an actor's message by its name: the process that asks (a web process, a command) never
imports the worker's tasks module, and so never the dependencies of the work itself."""

import dramatiq
from dramatiq import Message


def send_by_name(
    actor_name: str, queue_name: str = "default", args: tuple = (), delay_ms: int | None = None
) -> None:
    broker = dramatiq.get_broker()
    broker.declare_queue(queue_name)  # a set lookup once declared
    message = Message(
        queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options={}
    )
    broker.enqueue(message, delay=delay_ms)

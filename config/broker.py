"""The Celery broker's transport: kombu's Redis transport, with one setting kombu offers no option for.

When the broker goes away while a task is running (acknowledged late, so its message is still
unacknowledged), kombu closes the channel and tries at once to put the message back on the queue,
through a connection that is already gone; that raises from inside the worker's recovery and the
worker exits (kombu 5.7: AttributeError in the Redis channel's connection parameters). With
`do_restore` off, a closing channel leaves unacknowledged messages where they are: in Redis's
unacked set, from which kombu itself delivers them again once their visibility timeout passes
(and beat's sweeps catch up sooner). So the worker rides out the outage and nothing is lost.
"""
from kombu.transport import redis


class Channel(redis.Channel):
    do_restore = False


class Transport(redis.Transport):
    Channel = Channel

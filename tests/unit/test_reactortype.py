"""The reactor handed to the services: checked for the interfaces its type stands for."""

import pytest
from twisted.internet.interfaces import IReactorProcess, IReactorThreads
from twisted.internet.testing import MemoryReactorClock
from zope.interface import alsoProvides

from appliance.reactortype import service_reactor


def test_a_reactor_without_threads_or_processes_is_refused_by_name():
    with pytest.raises(TypeError, match="does not provide IReactorThreads, IReactorProcess"):
        service_reactor(MemoryReactorClock())


def test_a_reactor_providing_every_interface_is_handed_over_as_it_is():
    reactor = MemoryReactorClock()
    alsoProvides(reactor, IReactorThreads, IReactorProcess)
    assert service_reactor(reactor) is reactor

from seal.commands import serialization_lock

serialization_lock.install()

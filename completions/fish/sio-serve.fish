# fish completion for sio-serve
complete -c sio-serve -s h -l help -d 'print help'
complete -c sio-serve -s V -l version -d 'print version'
complete -c sio-serve -l host -r -d 'address to listen on'
complete -c sio-serve -s p -l port -r -d 'port to listen on'

# fish completion for sio-cli
complete -c sio-cli -s h -l help -d 'print help'
complete -c sio-cli -s V -l version -d 'print version'


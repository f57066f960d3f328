# fish completion for sio-bench
complete -c sio-bench -s h -l help -d 'print help'
complete -c sio-bench -s V -l version -d 'print version'


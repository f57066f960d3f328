# fish completion for sio-inspect
complete -c sio-inspect -s h -l help -d 'print help'
complete -c sio-inspect -s V -l version -d 'print version'
complete -c sio-inspect -l eio -r -f -a '3 4' -d 'Engine.IO revision of the input'
complete -c sio-inspect -l json -d 'one JSON object per packet'
complete -c sio-inspect -l engine-only -d 'do not decode Socket.IO'
complete -c sio-inspect -f -n '__fish_use_subcommand' -a decode -d 'explain a raw packet or polling payload'
